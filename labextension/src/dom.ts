/** Small DOM helpers: elements with classes, attributes and text, never HTML strings. */

export type Child = Node | string | null | undefined | false;

export function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') {
      node.className = value;
    } else {
      node.setAttribute(name, value);
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child);
    }
  }
  return node;
}

export function formatBytes(count: number | null | undefined): string {
  if (count === null || count === undefined) {
    return '?';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatShape(shape: number[]): string {
  return shape.length ? shape.join('x') : 'scalar';
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

/** 'rank 2', 'ranks 0-3', 'ranks 0,2': rank lists as the text output writes them. */
export function rankWords(ranks: number[]): string {
  const sorted = [...ranks].sort((a, b) => a - b);
  if (sorted.length === 1) {
    return `rank ${sorted[0]}`;
  }
  const run = sorted.length > 2 && sorted.every((r, i) => r === sorted[0] + i);
  return `ranks ${run ? `${sorted[0]}-${sorted[sorted.length - 1]}` : sorted.join(',')}`;
}

/** One of eight rank colours, as a class of the stylesheet (no inline colours). */
export function rankColour(rank: number): string {
  return `torchtcl-c${rank % 8}`;
}
