"""Every example of the scatter page runs as written in a world of one."""
from seed_examples import ERROR_BLOCK, PRELUDE, blocks, error_statements


def test_the_page_has_its_examples():
    headings = [h for h, _ in blocks()]
    assert len(headings) == 25
    assert "Basic Usage" in headings and ERROR_BLOCK in headings


def test_every_block_runs_in_order_in_one_session(session):
    assert session.eval(PRELUDE).error is None
    for heading, source in blocks():
        if heading == ERROR_BLOCK:
            continue
        result = session.eval(source)
        assert result.error is None, f"{heading}: {result.error.info}"
    # the basic usage results are clones of the whole 2x2 tensor
    for var in ("result1", "result2", "result3"):
        assert session.eval(f"torch::tensor_shape ${var}").result in ("2 2", "4 2")
    assert session.eval("torch::tensor_to_list $scattered").result == "1.0 2.0 3.0 4.0"
    assert session.eval("torch::tensor_shape $final_result").result == "1 4 2"
    assert session.eval("torch::tensor_to_list $averaged_gradients").result == (
        "0.5 1.0 1.5 2.0 2.5 3.0 3.5 4.0")


def test_the_error_handling_examples_print_the_errors(session):
    session.eval(PRELUDE)
    basic = dict(blocks())["Basic Usage"]
    session.eval(basic)
    handling = [src for h, src in blocks() if h == "Error Handling"][0]
    result = session.eval(handling)
    assert result.error is None
    assert result.text() == ("Error: invalid src parameter: -1 (a rank is >= 0)\n"
                             "Error: Invalid tensor handle: invalid_tensor (Invalid tensor name for tensor: "
                             "Tensor not found)\n")


def test_the_error_messages_on_the_page_are_the_real_ones(session):
    session.eval(PRELUDE)
    session.eval(dict(blocks())["Basic Usage"])
    pairs = error_statements(dict(blocks())[ERROR_BLOCK])
    assert len(pairs) == 3
    for statement, expected in pairs:
        result = session.eval(statement)
        assert result.error is not None and result.error.message == expected, statement
