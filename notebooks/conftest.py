"""nbval compares the tutorials' saved outputs with fresh ones. A %%torchtcl cell's view
(application/vnd.torchtcl.view+json) holds times, hosts and memory, which differ on every
run, so it is left out of the comparison like a widget's model id; its text/plain and
text/html forms, compared as before, hold the same output, table and pictures."""
VIEW_MIME = "application/vnd.torchtcl.view+json"


def pytest_collection_modifyitems(items):
    for item in items:
        notebook = item.parent
        if hasattr(notebook, "skip_compare") and VIEW_MIME not in notebook.skip_compare:
            notebook.skip_compare = (*notebook.skip_compare, VIEW_MIME)
