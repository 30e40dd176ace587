/**
 * Tcl in `%%torchtcl` cells: a code cell whose text starts with `%%torchtcl` is edited as
 * Tcl (highlighting, and Enter keeps the line's indentation instead of Python's), any other
 * cell as the notebook's language. The cell model's MIME type picks the editor's language
 * in JupyterLab's language registry, so nothing of CodeMirror is bundled here.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import type { ICellModel } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

const TCL_MIME = 'text/x-tcl';

/** True when a cell's text is a `%%torchtcl` cell (IPython allows blank lines before it). */
export function isTorchTcl(source: string): boolean {
  return /^%%torchtcl(\s|$)/.test(source.trimStart());
}

function follow(panel: NotebookPanel): void {
  const notebook = panel.content;
  const watched = new WeakSet<ICellModel>();
  const apply = (model: ICellModel): void => {
    if (model.type !== 'code') {
      return;
    }
    const wanted = isTorchTcl(model.sharedModel.getSource()) ? TCL_MIME : notebook.codeMimetype;
    if (model.mimeType !== wanted) {
      model.mimeType = wanted; // the notebook resets it when its kernel's language arrives: see below
    }
  };
  const watchAll = (): void => {
    const cells = notebook.model?.cells;
    if (!cells) {
      return;
    }
    for (let i = 0; i < cells.length; i++) {
      const model = cells.get(i);
      if (!watched.has(model)) {
        watched.add(model);
        model.sharedModel.changed.connect((_, change) => {
          if (change.sourceChange) {
            apply(model);
          }
        });
        model.mimeTypeChanged.connect(() => apply(model));
      }
      apply(model);
    }
  };
  const connect = (): void => {
    notebook.model?.cells.changed.connect(watchAll);
    watchAll();
  };
  notebook.modelChanged.connect(connect);
  void panel.context.ready.then(connect);
  connect();
}

const tclCells: JupyterFrontEndPlugin<void> = {
  id: 'torchtcl:tcl-cells',
  description: 'Edits %%torchtcl cells as Tcl.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker) => {
    tracker.forEach(follow);
    tracker.widgetAdded.connect((_, panel) => follow(panel));
  }
};

export default tclCells;
