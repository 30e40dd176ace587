/**
 * The renderer of a cell's per-rank view (`application/vnd.torchtcl.view+json`): data in,
 * DOM out, so it is safe in an untrusted notebook and draws a saved view without a kernel.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { renderView, ViewData } from './view';

export const MIME = 'application/vnd.torchtcl.view+json';

class ViewRenderer extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass('torchtcl-rendered');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[MIME] as unknown as ViewData;
    this.node.replaceChildren(renderView(data));
    return Promise.resolve();
  }
}

const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [MIME],
  defaultRank: 0,
  createRenderer: () => new ViewRenderer()
};

const extension: IRenderMime.IExtension = {
  id: 'torchtcl:view',
  description: 'Draws a %%torchtcl cell: rank tabs, the tensor table, the scatter picture, the timeline.',
  rendererFactory,
  rank: 0,
  dataType: 'json'
};

export default extension;
