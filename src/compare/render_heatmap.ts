// The block-grid heatmap: one cell per block of the device, coloured by how many write requests
// touched it (docs/REPORT.md says how to read it).
//
// Invariants:
// - the grid is GRID_COLUMNS cells wide and at most GRID_ROWS_MAX rows high; a device of up to
//   16,384 blocks (64 MiB) gets one block per cell, a larger one ceil(blocks / 16,384) blocks per
//   cell, and a cell then shows the largest count among its blocks (so a single hammered block is
//   never averaged away) — the legend says so;
// - cells are laid out row-major from the top left, in address order: cell i covers blocks
//   [i·perCell, (i+1)·perCell); cells past the end of the device are left blank (background);
// - the colour of a cell is count_colour(scale, count): the caller passes the scale shared by all
//   pictures of a report.

import type { WearRecord } from '../wear/wearfile.js';
import { wear_stats } from '../wear/stats.js';
import { assert } from '../util/assert.js';
import type { LogScale } from './render_scale.js';
import { NEVER_WRITTEN, count_colour, scale_make } from './render_scale.js';
import {
  Raster, fmt_addr, fmt_bytes, fmt_int, legend_svg, png_write, svg_open, svg_png, svg_text,
  type LegendGeometry,
} from './render_svg.js';

export const GRID_COLUMNS = 128;
export const GRID_ROWS_MAX = 128;
export const CELL_PX = 5;

export interface HeatmapGrid {
  blocks: number;
  blocksPerCell: number;
  cells: number;
  columns: number;
  rows: number;
  /** per cell: the largest count among its blocks */
  values: Uint32Array;
}

/** Folds per-block counts into grid cells by maximum. */
export function heatmap_grid(counts: Uint32Array): HeatmapGrid {
  const blocks = counts.length;
  assert(blocks > 0, 'heatmap_grid: a device of zero blocks');
  const blocksPerCell = Math.max(1, Math.ceil(blocks / (GRID_COLUMNS * GRID_ROWS_MAX)));
  const cells = Math.ceil(blocks / blocksPerCell);
  const values = new Uint32Array(cells);
  for (let b = 0; b < blocks; b++) {
    const c = counts[b]!, i = (b / blocksPerCell) | 0;
    if (c > values[i]!) values[i] = c;
  }
  const rows = Math.ceil(cells / GRID_COLUMNS);
  assert(rows <= GRID_ROWS_MAX, () => `heatmap_grid: ${rows} rows for ${blocks} blocks`);
  return { blocks, blocksPerCell, cells, columns: GRID_COLUMNS, rows, values };
}

export interface HeatmapLayout {
  width: number;
  height: number;
  gridX: number;
  gridY: number;
  cellPx: number;
  grid: HeatmapGrid;
  legend: LegendGeometry;
}

/** The pixel rectangle of cell `i` (for tests and annotations). */
export function heatmap_cell_rect(layout: HeatmapLayout, i: number): { x: number; y: number; w: number; h: number } {
  assert(i >= 0 && i < layout.grid.cells, () => `cell ${i} outside 0..${layout.grid.cells - 1}`);
  return {
    x: layout.gridX + (i % layout.grid.columns) * layout.cellPx,
    y: layout.gridY + Math.floor(i / layout.grid.columns) * layout.cellPx,
    w: layout.cellPx,
    h: layout.cellPx,
  };
}

export interface HeatmapOptions {
  /** the count drawn with the top colour; a report passes the largest count of all its records */
  scaleMax?: number;
  title?: string;
  /** what the hottest block holds, where the runner knows it */
  hottestWhat?: string;
}

const MARGIN_LEFT = 78, MARGIN_TOP = 76, MARGIN_RIGHT = 34;

/** The heatmap as SVG, with its geometry. */
export function heatmap_svg(rec: WearRecord, opts: HeatmapOptions = {}): { svg: string; layout: HeatmapLayout } {
  const grid = heatmap_grid(rec.counts);
  const stats = wear_stats(rec.counts);
  const scale: LogScale = scale_make(opts.scaleMax ?? stats.hottestCount);
  const gridW = grid.columns * CELL_PX, gridH = grid.rows * CELL_PX;
  const gridX = MARGIN_LEFT, gridY = MARGIN_TOP;

  const raster = new Raster(gridW, gridH);
  for (let i = 0; i < grid.cells; i++) {
    raster.rect((i % grid.columns) * CELL_PX, Math.floor(i / grid.columns) * CELL_PX, CELL_PX, CELL_PX,
      count_colour(scale, grid.values[i]!));
  }

  const deviceBytes = grid.blocks * rec.blockSize;
  const rowBytes = grid.columns * grid.blocksPerCell * rec.blockSize;
  const parts: string[] = [];
  const title = opts.title ?? `${rec.meta.fs}: block writes`;
  parts.push(svg_text(gridX, 26, title, 'font-size="20" font-weight="bold" fill="#111"'));
  const per = grid.blocksPerCell === 1 ? 'one block per cell' : `${grid.blocksPerCell} blocks per cell (cell = their largest count)`;
  parts.push(svg_text(gridX, 46, `${fmt_bytes(deviceBytes)} device · ${fmt_int(grid.blocks)} blocks of ${fmt_bytes(rec.blockSize)} · ${per}`,
    'font-size="12.5" fill="#444"'));
  parts.push(svg_text(gridX, 63, `${fmt_int(stats.blockWrites)} block writes · ${fmt_int(stats.blocksNeverWritten)} blocks never written · hottest ${fmt_int(stats.hottestCount)}`,
    'font-size="12.5" fill="#444"'));

  parts.push(raster.svg_image(gridX, gridY));
  parts.push(`<rect x="${gridX - 0.5}" y="${gridY - 0.5}" width="${gridW + 1}" height="${gridH + 1}" fill="none" stroke="#666" stroke-width="1"/>`);

  // y axis: the address at the start of a row, every rowStep rows
  const rowStep = grid.rows >= 64 ? 16 : grid.rows >= 16 ? 8 : grid.rows >= 4 ? 2 : 1;
  for (let r = 0; r <= grid.rows; r += rowStep) {
    const y = gridY + r * CELL_PX;
    parts.push(`<line x1="${gridX - 5}" y1="${y - 0.5}" x2="${gridX - 1}" y2="${y - 0.5}" stroke="#444"/>`);
    parts.push(svg_text(gridX - 8, y + 4, r === 0 ? '0' : fmt_bytes(r * rowBytes), 'font-size="11" fill="#333" text-anchor="end"'));
  }
  parts.push(svg_text(18, gridY + gridH / 2, 'address (row start)',
    `font-size="12" fill="#333" text-anchor="middle" transform="rotate(-90 18 ${gridY + gridH / 2})"`));
  parts.push(svg_text(gridX + gridW, gridY + gridH + 32, `each row = ${fmt_bytes(rowBytes)}, address grows left→right, top→bottom`,
    'font-size="11" fill="#555" text-anchor="end"'));

  // the hottest block: a ring around its cell, so a single hammered block is found at a glance
  if (stats.hottestCount > 0) {
    const cell = Math.floor(stats.hottestBlock / grid.blocksPerCell);
    const cx = gridX + (cell % grid.columns) * CELL_PX + CELL_PX / 2;
    const cy = gridY + Math.floor(cell / grid.columns) * CELL_PX + CELL_PX / 2;
    parts.push(`<circle cx="${cx}" cy="${cy}" r="9" fill="none" stroke="#00b4ff" stroke-width="2"/>`);
    const what = opts.hottestWhat ? ` — ${opts.hottestWhat}` : '';
    parts.push(svg_text(gridX, gridY + gridH + 16,
      `◯ hottest: block ${fmt_int(stats.hottestBlock)} at ${fmt_addr(stats.hottestBlock * rec.blockSize)}, ${fmt_int(stats.hottestCount)} ${stats.hottestCount === 1 ? 'write' : 'writes'}${what}`,
      'font-size="11" fill="#0077aa"'));
  }

  const legendY = gridY + gridH + 44;
  const unit = grid.blocksPerCell === 1 ? 'write requests per 4 KiB block' : `write requests per block, largest of the ${grid.blocksPerCell} blocks of a cell`;
  const leg = legend_svg(gridX, legendY, Math.min(gridW - 170, 470), scale, `${unit} (log scale, shared by all filesystems of this report)`,
    { colour: NEVER_WRITTEN, label: 'never written' });
  parts.push(leg.svg);

  const width = gridX + gridW + MARGIN_RIGHT;
  const height = legendY + leg.height + 12;
  const svg = svg_open(width, height) + parts.join('') + '</svg>';
  return { svg, layout: { width, height, gridX, gridY, cellPx: CELL_PX, grid, legend: leg.geometry } };
}

/** The heatmap as PNG bytes, with its geometry. */
export function heatmap_png(rec: WearRecord, opts: HeatmapOptions = {}): { png: Buffer; layout: HeatmapLayout; svg: string } {
  const { svg, layout } = heatmap_svg(rec, opts);
  return { png: svg_png(svg), layout, svg };
}

/** Draws one block-grid heatmap to a PNG file. */
export async function heatmap_render(rec: WearRecord, pngPath: string, opts: HeatmapOptions = {}): Promise<void> {
  png_write(pngPath, heatmap_png(rec, opts).png);
}
