// Drawing helpers shared by the renderers: an RGBA raster encoded with pngjs, SVG text rendered
// to PNG with resvg, the colour-scale legend, and number formatting.
//
// Invariants:
// - data pictures (heatmap cells, timeline pixels, the legend ramp) are rasters placed in the SVG
//   at integer positions and 1:1 scale with optimizeSpeed, so resvg copies their pixels unchanged:
//   the colour a test reads back from the PNG is exactly the colour the scale computed;
// - text is drawn with the DejaVu fonts named explicitly, so a picture does not depend on which
//   system fonts happen to be installed.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { Resvg } from '@resvg/resvg-js';
import { assert } from '../util/assert.js';
import type { LogScale, Rgb } from './render_scale.js';
import { ramp_colour, rgb_hex, scale_position, scale_ticks } from './render_scale.js';

export const FONT = 'DejaVu Sans';
export const FONT_MONO = 'DejaVu Sans Mono';
const FONT_DIR = '/usr/share/fonts/truetype/dejavu';
const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSansMono.ttf'];

/** The repository root: the nearest folder above this file whose package.json is cowlog's. */
export function repo_root(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'cowlog') return dir;
    dir = dirname(dir);
  }
  throw new Error('cowlog render: cannot find the repository root above ' + fileURLToPath(import.meta.url));
}

let fontFiles: string[] | undefined;

/** The DejaVu font files, installing Debian's fonts-dejavu-core through tools/ensure-packages.sh
 *  when they are missing (a fresh machine). */
export function fonts_ensure(): string[] {
  if (fontFiles) return fontFiles;
  const files = FONT_FILES.map((f) => join(FONT_DIR, f));
  if (!files.every((f) => existsSync(f))) {
    execFileSync('bash', [join(repo_root(), 'tools/ensure-packages.sh'), 'fonts-dejavu-core'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`cowlog render: fonts missing after installing fonts-dejavu-core: ${missing.join(', ')}`);
  fontFiles = files;
  return files;
}

/** An RGBA raster, row-major, 4 bytes a pixel. */
export class Raster {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number, fill: Rgb = [255, 255, 255]) {
    assert(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0,
      () => `Raster: bad size ${width}×${height}`);
    this.data = new Uint8Array(width * height * 4);
    this.rect(0, 0, width, height, fill);
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    const x1 = Math.min(this.width, x + w), y1 = Math.min(this.height, y + h);
    for (let yy = Math.max(0, y); yy < y1; yy++) {
      let p = (yy * this.width + Math.max(0, x)) * 4;
      for (let xx = Math.max(0, x); xx < x1; xx++, p += 4) {
        this.data[p] = c[0]; this.data[p + 1] = c[1]; this.data[p + 2] = c[2]; this.data[p + 3] = 255;
      }
    }
  }

  png(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data.set(this.data);
    return PNG.sync.write(png);
  }

  /** An SVG <image> of this raster at (x, y), 1:1, copied pixel for pixel by resvg. */
  svg_image(x: number, y: number): string {
    assert(Number.isInteger(x) && Number.isInteger(y), () => `svg_image at non-integer (${x}, ${y})`);
    return `<image x="${x}" y="${y}" width="${this.width}" height="${this.height}" image-rendering="optimizeSpeed" ` +
      `preserveAspectRatio="none" href="data:image/png;base64,${this.png().toString('base64')}"/>`;
  }
}

/** Renders SVG text to PNG bytes with resvg and the DejaVu fonts. */
export function svg_png(svg: string): Buffer {
  const r = new Resvg(svg, {
    font: { loadSystemFonts: false, fontFiles: fonts_ensure(), defaultFontFamily: FONT, sansSerifFamily: FONT, monospaceFamily: FONT_MONO },
    background: 'white',
    shapeRendering: 2,
    textRendering: 1,
  });
  return r.render().asPng();
}

export function png_write(path: string, png: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, png);
}

export function xml_escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function svg_text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x}" y="${y}" font-family="${FONT}" ${attrs}>${xml_escape(s)}</text>`;
}

export function svg_open(width: number, height: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`;
}

/** 1234567 → "1,234,567" */
export function fmt_int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 1, 10, 100, 1k, 10k, 1.2M: short labels for log ticks. */
export function fmt_compact(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1e6) return `${+(n / 1e3).toPrecision(3)}k`;
  if (n < 1e9) return `${+(n / 1e6).toPrecision(3)}M`;
  return `${+(n / 1e9).toPrecision(3)}G`;
}

/** Bytes as MiB/GiB/KiB with sensible precision. */
export function fmt_bytes(n: number): string {
  const KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;
  if (n >= GiB) return `${+(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(n >= 100 * MiB ? 0 : 1)} MiB`;
  if (n >= KiB) return `${+(n / KiB).toFixed(n >= 100 * KiB ? 0 : 1)} KiB`;
  return `${n} B`;
}

/** A device address: exact KiB below 1 MiB, else MiB with as many decimals as it needs (≤ 3). */
export function fmt_addr(bytes: number): string {
  if (bytes === 0) return '0';
  if (bytes < 1048576) return `${fmt_int(bytes / 1024)} KiB`;
  return `${+(bytes / 1048576).toFixed(3)} MiB`;
}

export interface LegendGeometry {
  /** where the ramp bar starts and how long it is, in image pixels */
  barX: number;
  barY: number;
  barWidth: number;
  barHeight: number;
  ticks: number[];
}

/**
 * A horizontal legend: the ramp from count 1 (left) to scale.max (right) with log ticks, the
 * title naming the units, and optionally a swatch for count 0.
 */
export function legend_svg(x: number, y: number, barWidth: number, scale: LogScale, title: string,
  zero?: { colour: Rgb; label: string }): { svg: string; geometry: LegendGeometry; height: number } {
  const barHeight = 14;
  const bar = new Raster(barWidth, barHeight);
  for (let i = 0; i < barWidth; i++) bar.rect(i, 0, 1, barHeight, ramp_colour(i / (barWidth - 1)));
  const barY = y + 20;
  const parts: string[] = [];
  parts.push(svg_text(x, y + 12, title, 'font-size="13" fill="#222"'));
  parts.push(bar.svg_image(x, barY));
  parts.push(`<rect x="${x - 0.5}" y="${barY - 0.5}" width="${barWidth + 1}" height="${barHeight + 1}" fill="none" stroke="#555" stroke-width="1"/>`);
  // keep a tick only if its label clears the previous one and the max label at the bar's end
  // (DejaVu Sans digits are 0.64 em wide; 12 px labels)
  const labelOf = (v: number): string => (v === scale.max ? `≥ ${fmt_int(v)}` : fmt_compact(v));
  const span = (v: number): [number, number] => {
    const w = [...labelOf(v)].length * 7.7;
    if (v === scale.max) return [x + barWidth - w, x + barWidth];
    const tx = x + scale_position(scale, v) * (barWidth - 1);
    return v === 1 ? [x, x + w] : [tx - w / 2, tx + w / 2];
  };
  const maxSpan = span(scale.max);
  const ticks: number[] = [];
  let right = -Infinity;
  for (const v of scale_ticks(scale)) {
    const [a, b] = span(v);
    if (v !== scale.max && (a < right + 8 || b > maxSpan[0] - 8)) continue;
    ticks.push(v);
    right = b;
  }
  for (const v of ticks) {
    const tx = Math.round(x + scale_position(scale, v) * (barWidth - 1)) + 0.5;
    parts.push(`<line x1="${tx}" y1="${barY + barHeight}" x2="${tx}" y2="${barY + barHeight + 5}" stroke="#333" stroke-width="1"/>`);
    const anchor = v === scale.max ? 'end' : v === 1 ? 'start' : 'middle';
    const lx = v === scale.max ? x + barWidth : v === 1 ? x : tx;
    parts.push(svg_text(lx, barY + barHeight + 18, labelOf(v), `font-size="12" fill="#222" text-anchor="${anchor}" class="tick"`));
  }
  if (zero) {
    const sx = x + barWidth + 24;
    parts.push(`<rect x="${sx}" y="${barY}" width="${barHeight}" height="${barHeight}" fill="${rgb_hex(zero.colour)}" stroke="#555" stroke-width="1"/>`);
    parts.push(svg_text(sx + barHeight + 6, barY + 11, zero.label, 'font-size="12" fill="#222"'));
  }
  return { svg: parts.join(''), geometry: { barX: x, barY, barWidth, barHeight, ticks }, height: 20 + barHeight + 22 };
}
