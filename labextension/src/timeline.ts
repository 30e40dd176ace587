/**
 * The timeline of a cell's collectives and transfers: one row per rank, each call drawn
 * from the moment the rank arrived to the moment it left, its wait for the other members
 * and its data phase told apart, and the rank that arrived last named; then the calls in
 * words, for reading and for screen readers.
 */
import { formatBytes, formatMs, h, rankWords } from './dom';
import type { RankData } from './view';

export interface EventData {
  rank: number;
  op: string;
  arrived: number;
  agreed: number;
  moved: number;
  left: number;
  waited: number;
  waited_for: number | null;
  sent: number;
  received: number;
  outcome: string;
}

export interface CallData {
  op: string;
  group: string;
  members: number[];
  last: number | null;
  events: EventData[];
}

const short = (op: string): string => op.replace(/^distributed_/, '');

function describe(call: CallData, e: EventData): string {
  const parts = [`${call.op} of ${call.group}`, `rank ${e.rank} arrived at ${formatMs(e.arrived)}`];
  parts.push(e.waited_for !== null ? `waited ${formatMs(e.waited)} for rank ${e.waited_for}` : `waited ${formatMs(e.waited)}`);
  parts.push(`data moved until ${formatMs(e.moved)}`, `left at ${formatMs(e.left)}`);
  parts.push(`sent ${formatBytes(e.sent)}, received ${formatBytes(e.received)}`);
  if (e.outcome !== 'ok') {
    parts.push(`not completed: ${e.outcome}`);
  }
  return parts.join('; ');
}

export function renderTimeline(calls: CallData[], ranks: RankData[]): HTMLElement {
  const end = Math.max(1e-3, ...ranks.map(r => r.end_ms ?? 0), ...calls.flatMap(c => c.events.map(e => e.left)));
  const at = (ms: number): string => `${Math.max(0, Math.min(100, (ms / end) * 100))}%`;
  const box = h('div', { class: 'torchtcl-timeline' });
  box.append(h('div', { class: 'torchtcl-tl-title' }, `collectives over time (0 \u2013 ${formatMs(end)})`,
    h('span', { class: 'torchtcl-tl-legend' }, h('span', { class: 'torchtcl-tl-wait torchtcl-tl-swatch' }), ' waiting for the others ',
      h('span', { class: 'torchtcl-tl-data torchtcl-tl-swatch' }), ' moving data')));
  for (const r of ranks) {
    const track = h('div', { class: 'torchtcl-tl-track' });
    if (r.start_ms !== null && r.end_ms !== null) {
      const cell = h('div', { class: 'torchtcl-tl-cell', title: `${r.label} ran the cell from ${formatMs(r.start_ms)} to ${formatMs(r.end_ms)}` });
      cell.style.left = at(r.start_ms);
      cell.style.width = at(r.end_ms - r.start_ms);
      track.append(cell);
    }
    for (const call of calls) {
      for (const e of call.events.filter(x => x.rank === r.rank)) {
        const bar = h('div', {
          class: 'torchtcl-tl-call' + (e.outcome !== 'ok' ? ' torchtcl-tl-failed' : '') +
            (call.last === r.rank && call.events.length > 1 ? ' torchtcl-tl-last' : ''),
          title: describe(call, e)
        });
        bar.style.left = at(e.arrived);
        bar.style.width = at(e.left - e.arrived);
        const wait = h('span', { class: 'torchtcl-tl-wait' });
        wait.style.flexGrow = String(Math.max(0, e.agreed - e.arrived));
        const data = h('span', { class: 'torchtcl-tl-data' });
        data.style.flexGrow = String(Math.max(0, e.moved - e.agreed));
        bar.append(wait, data, h('span', { class: 'torchtcl-tl-name' }, short(e.op)));
        track.append(bar);
      }
    }
    const where = [r.host, r.device, r.rss !== null ? formatBytes(r.rss) : null].filter(Boolean).join(' \u00b7 ');
    box.append(h('div', { class: 'torchtcl-tl-row', 'data-rank': String(r.rank) },
      h('div', { class: 'torchtcl-tl-label', title: where }, r.label, h('span', { class: 'torchtcl-tl-where' }, where)),
      track));
  }
  const list = h('ol', { class: 'torchtcl-tl-list' });
  for (const call of calls) {
    const late = call.last !== null ? call.events.find(e => e.rank === call.last) : undefined;
    const first = Math.min(...call.events.map(e => e.arrived));
    const moved = call.events.reduce((sum, e) => sum + e.sent, 0);
    const failed = call.events.filter(e => e.outcome !== 'ok');
    list.append(h('li', {}, h('code', {}, call.op), ` of ${call.group}: `,
      late && late.arrived - first > 0 ? `${rankWords([late.rank])} arrived last, ${formatMs(late.arrived - first)} after the first; ` : '',
      `${formatBytes(moved)} sent`,
      failed.length ? `; not completed on ${rankWords(failed.map(e => e.rank))} (why: hover its bars)` : ''));
  }
  const dropped = ranks.reduce((sum, r) => sum + (r.dropped_calls || 0), 0);
  box.append(calls.length > 12 ? h('details', {}, h('summary', {}, `${calls.length} calls`), list) : list);
  if (dropped) {
    box.append(h('div', { class: 'torchtcl-note' }, `${dropped} later calls were not recorded (the first 1000 of each rank are kept)`));
  }
  return box;
}
