// Test helpers: read a PNG back with pngjs and look at its pixels.

import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { Rgb } from '../../src/compare/render_scale.js';

export interface Image {
  width: number;
  height: number;
  at(x: number, y: number): [number, number, number];
  /** how many pixels have exactly this colour */
  count(c: Rgb): number;
  /** number of distinct colours */
  distinct(): number;
}

export function png_read(pathOrBytes: string | Buffer): Image {
  const png = PNG.sync.read(typeof pathOrBytes === 'string' ? readFileSync(pathOrBytes) : pathOrBytes);
  const { width, height, data } = png;
  return {
    width,
    height,
    at(x, y) {
      if (x < 0 || y < 0 || x >= width || y >= height) throw new RangeError(`pixel (${x}, ${y}) outside ${width}×${height}`);
      const p = (y * width + x) * 4;
      return [data[p]!, data[p + 1]!, data[p + 2]!];
    },
    count(c) {
      let n = 0;
      for (let p = 0; p < data.length; p += 4) if (data[p] === c[0] && data[p + 1] === c[1] && data[p + 2] === c[2]) n++;
      return n;
    },
    distinct() {
      const seen = new Set<number>();
      for (let p = 0; p < data.length; p += 4) seen.add((data[p]! << 16) | (data[p + 1]! << 8) | data[p + 2]!);
      return seen.size;
    },
  };
}

/** A directory of its own under the system's temporary one, removed when the test file ends. */
export function tmp_dir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `cowlog-render-${tag}-`));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Relative luminance (ITU-R BT.709 weights on the raw channels): enough to order ramp colours. */
export function luma(c: readonly number[]): number {
  return 0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!;
}
