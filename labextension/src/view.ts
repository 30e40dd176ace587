/**
 * A cell's view: "all ranks" and one tab per rank (a selector beyond TAB_LIMIT ranks), the
 * tensor table with a per-rank summary of the variable clicked, the scatter picture and
 * the timeline. The JSON schema is documented in docs/notebook.md (version 1).
 */
import { formatBytes, formatShape, h, rankColour, rankWords } from './dom';
import { CallData, renderTimeline } from './timeline';

export interface RankData {
  rank: number;
  label: string;
  ok: boolean;
  exit: number | null;
  error: string | null;
  output: { stream: string; text: string }[];
  result: string;
  host: string | null;
  device: string | null;
  rss: number | null;
  cuda: number | null;
  start_ms: number | null;
  end_ms: number | null;
  dropped_calls: number;
}

export interface TensorCell {
  shape: number[];
  dtype: string;
  device: string;
  bytes: number;
  handle: string;
  stats: { min: number; max: number; mean: number } | null;
}

export interface VariableData {
  name: string;
  differs: boolean;
  cells: (TensorCell | null)[];
}

export interface ScatterData {
  source: string;
  chunk: string;
  shape: number[];
  dtype: string;
  spans: [number, number, number][];
}

export interface ViewData {
  version: number;
  where: string;
  ranks: RankData[];
  variables: VariableData[];
  scatters: ScatterData[];
  calls: CallData[];
}

export const VERSION = 1;
const TAB_LIMIT = 16;
let serial = 0;

export function renderView(data: ViewData): HTMLElement {
  const id = `torchtcl-${++serial}`;
  const root = h('div', { class: 'torchtcl-view' });
  if (data.version > VERSION) {
    root.append(h('p', { class: 'torchtcl-note' }, `This view was made by a newer torchtcl (schema ${data.version}); ` +
      'what this version knows of it is drawn.'));
  }
  const ranks = data.ranks || [];
  const panels: { label: string; rank: number | null; draw: () => HTMLElement }[] = [
    { label: 'all ranks', rank: null, draw: () => allRanks(data) },
    ...ranks.map(r => ({ label: r.label + (r.ok ? '' : ' \u26a0'), rank: r.rank, draw: () => oneRank(data, r) }))
  ];
  const many = ranks.length > TAB_LIMIT; // beyond this a selector picks the rank: tabs would not fit
  const panel = h('div', { class: 'torchtcl-panel', role: 'tabpanel', tabindex: '0', id: `${id}-panel` });
  const bar = h('div', { class: 'torchtcl-tabs', role: 'tablist', 'aria-label': 'ranks' });
  const select = h('select', { class: 'torchtcl-select', 'aria-label': 'rank', id: `${id}-select` }) as HTMLSelectElement;
  const tabs: HTMLElement[] = [];
  const show = (index: number, focus: boolean): void => {
    const selected = many ? (index === 0 ? 0 : -1) : index;
    tabs.forEach((tab, i) => {
      tab.setAttribute('aria-selected', String(i === selected));
      tab.tabIndex = i === selected || (selected === -1 && i === 0) ? 0 : -1;
      if (i === selected && focus) {
        tab.focus();
      }
    });
    if (many) {
      select.value = String(index);
    }
    panel.setAttribute('aria-labelledby', selected >= 0 ? `${id}-tab-${selected}` : `${id}-select`);
    panel.dataset.rank = panels[index].rank === null ? 'all' : String(panels[index].rank);
    panel.replaceChildren(panels[index].draw());
  };
  const shown = many ? panels.slice(0, 1) : panels;
  shown.forEach((p, i) => {
    const failed = p.rank !== null && !ranks[i - 1].ok;
    const tab = h('button', {
      class: 'torchtcl-tab' + (failed ? ' torchtcl-failed' : ''),
      role: 'tab', id: `${id}-tab-${i}`, 'aria-controls': `${id}-panel`, type: 'button'
    }, p.label);
    if (p.rank !== null) {
      tab.dataset.rank = String(p.rank);
    }
    tab.addEventListener('click', () => show(i, false));
    tab.addEventListener('keydown', (event: KeyboardEvent) => {
      const next = ({ ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: shown.length - 1 } as Record<string, number>)[event.key];
      if (next !== undefined) {
        event.preventDefault();
        show((next + shown.length) % shown.length, true);
      }
    });
    tabs.push(tab);
    bar.append(tab);
  });
  if (many) {
    select.append(h('option', { value: '0' }, 'all ranks'));
    ranks.forEach((r, i) => select.append(h('option', { value: String(i + 1) }, r.label + (r.ok ? '' : ' \u26a0'))));
    select.addEventListener('change', () => show(Number(select.value), false));
    bar.append(select);
  }
  root.append(bar, panel);
  show(0, false);
  return root;
}

function allRanks(data: ViewData): HTMLElement {
  const box = h('div', { class: 'torchtcl-all' });
  const failed = data.ranks.filter(r => r.error !== null);
  if (failed.length) {
    box.append(grouped(failed, r => r.error || '', 'torchtcl-error', 'error: '));
  }
  box.append(grouped(data.ranks, r => r.output.map(o => o.text).join(''), 'torchtcl-output'));
  if (data.variables.length) {
    box.append(tensorTable(data));
  }
  for (const scatter of data.scatters) {
    box.append(scatterPicture(scatter));
  }
  if (data.calls.length) {
    box.append(renderTimeline(data.calls, data.ranks));
  }
  return box;
}

/** Each distinct text once, every line labelled with the ranks that made it (as the text form). */
function grouped(ranks: RankData[], text: (r: RankData) => string, cls: string, prefix = ''): HTMLElement {
  const groups = new Map<string, number[]>();
  for (const r of ranks) {
    const t = text(r);
    if (t) {
      groups.set(t, [...(groups.get(t) || []), r.rank]);
    }
  }
  const pre = h('pre', { class: cls });
  for (const [t, members] of groups) {
    const label = members.length === 1 && ranks.length === 1 && ranks[0].label === 'kernel' ? '' : `[${rankWords(members)}] `;
    for (const line of (prefix + t).replace(/\n$/, '').split('\n')) {
      pre.append(h('span', { class: 'torchtcl-label' }, label), line + '\n');
    }
  }
  return groups.size ? pre : h('div', { class: 'torchtcl-quiet' }, ranks.length ? '' : 'no ranks');
}

function oneRank(data: ViewData, r: RankData): HTMLElement {
  const box = h('div', { class: 'torchtcl-rank', 'data-rank': String(r.rank) });
  const memory = [r.rss !== null ? `memory ${formatBytes(r.rss)}` : null,
    r.cuda !== null ? `CUDA ${formatBytes(r.cuda)}` : null].filter(Boolean).join(', ');
  box.append(h('div', { class: 'torchtcl-rank-head' },
    h('span', { class: `torchtcl-key ${rankColour(r.rank)}` }), ` ${r.label}`,
    r.host ? ` on ${r.host}` : '', r.device ? `, device ${r.device}` : '', memory ? `, ${memory}` : ''));
  if (r.error !== null) {
    box.append(h('pre', { class: 'torchtcl-error' }, `error: ${r.error}`));
  } else if (r.exit) {
    box.append(h('pre', { class: 'torchtcl-error' }, `exit ${r.exit}`));
  }
  const out = h('pre', { class: 'torchtcl-output' });
  for (const o of r.output) {
    out.append(o.stream === 'stderr' ? h('span', { class: 'torchtcl-stderr' }, o.text) : o.text);
  }
  box.append(r.output.length ? out : h('div', { class: 'torchtcl-quiet' }, 'no output'));
  if (r.result) {
    box.append(h('pre', { class: 'torchtcl-result' }, r.result));
  }
  const index = data.ranks.indexOf(r);
  const held = data.variables.filter(v => v.cells[index]);
  if (held.length) {
    box.append(summaryTable(held.map(v => [v.name, v.cells[index] as TensorCell]), 'variable'));
  }
  const mine = data.calls.filter(c => c.events.some(e => e.rank === r.rank));
  if (mine.length) {
    box.append(renderTimeline(mine, [r]));
  }
  return box;
}

function tensorTable(data: ViewData): HTMLElement {
  const wrap = h('div', { class: 'torchtcl-table-wrap' });
  const details = h('div', { class: 'torchtcl-details' });
  const table = h('table', { class: 'torchtcl-table' });
  table.append(h('tr', {}, h('th', {}, 'variable'), ...data.ranks.map(r => h('th', {}, r.label))));
  for (const v of data.variables) {
    const name = h('button', { class: 'torchtcl-var', type: 'button', 'aria-expanded': 'false' }, v.name);
    const row = h('tr', v.differs ? { class: 'torchtcl-differs', title: 'shape differs across ranks' } : {},
      h('td', {}, name, v.differs ? ' \u26a0' : ''),
      ...v.cells.map(c => c === null ? h('td', { title: 'not held on this rank' }, '\u2013') :
        h('td', { title: `${c.dtype}, ${c.device}, ${formatBytes(c.bytes)} (${c.handle})` },
          h('b', { class: 'torchtcl-shape' }, formatShape(c.shape)), ` ${c.dtype} ${c.device} ${formatBytes(c.bytes)}`)));
    name.addEventListener('click', () => {
      const open = name.getAttribute('aria-expanded') === 'true';
      table.querySelectorAll('.torchtcl-var').forEach(b => b.setAttribute('aria-expanded', 'false'));
      details.replaceChildren();
      if (!open) {
        name.setAttribute('aria-expanded', 'true');
        details.append(h('div', { class: 'torchtcl-details-title' }, `${v.name} on each rank`),
          summaryTable(data.ranks.map((r, i) => [r.label, v.cells[i]]), 'rank'));
      }
    });
    table.append(row);
  }
  wrap.append(table, details);
  return wrap;
}

function summaryTable(rows: [string, TensorCell | null][], first: string): HTMLElement {
  const num = (x: number | undefined): string => x === undefined ? '' : String(Number(x.toPrecision(6)));
  const table = h('table', { class: 'torchtcl-summary' });
  table.append(h('tr', {}, ...[first, 'shape', 'dtype', 'device', 'bytes', 'min', 'max', 'mean'].map(t => h('th', {}, t))));
  for (const [label, c] of rows) {
    table.append(c === null ? h('tr', {}, h('td', {}, label), h('td', { colspan: '7' }, 'not held')) :
      h('tr', {}, h('td', {}, label), h('td', {}, formatShape(c.shape)), h('td', {}, c.dtype), h('td', {}, c.device),
        h('td', {}, formatBytes(c.bytes)), h('td', {}, num(c.stats?.min)), h('td', {}, num(c.stats?.max)),
        h('td', {}, num(c.stats?.mean))));
  }
  return table;
}

function scatterPicture(s: ScatterData): HTMLElement {
  const rows = s.shape[0] || 0;
  const maxBlocks = 64;
  const perBlock = Math.max(1, Math.ceil(rows / maxBlocks));
  const strip = h('div', { class: 'torchtcl-strip' });
  for (let first = 0; first < rows; first += perBlock) {
    const owner = s.spans.find(([, a, b]) => a <= first && first < b);
    strip.append(h('div', {
      class: owner ? rankColour(owner[0]) : 'torchtcl-unheld',
      title: `row ${first}` + (owner ? ` \u2192 rank ${owner[0]}` : '')
    }));
  }
  const legend = h('div', { class: 'torchtcl-legend' }, ...s.spans.map(([rank, a, b]) =>
    h('span', {}, h('span', { class: `torchtcl-key ${rankColour(rank)}` }),
      ` rank ${rank}: ${b - a > 1 ? `rows ${a}-${b - 1}` : b > a ? `row ${a}` : 'no rows'}`)));
  return h('div', { class: 'torchtcl-scatter' },
    h('div', {}, 'rows of ', h('code', {}, s.source), ` (${formatShape(s.shape)}) held in `, h('code', {}, s.chunk)),
    strip, legend);
}
