/**
 * Reading Prometheus' text exposition format (version 0.0.4), as much as
 * `cellsync stats` and the tests need: sample lines (`name{k="v",...} value
 * [timestamp]`) with escaped label values; comments and blank lines skipped.
 * prom-client writes the format but does not read it, and the one parser
 * on npm tried (parse-prometheus-text-format 1.1.1, unmaintained since
 * 2019) drops the labels, sums and counts of a labelled histogram.
 */

/** One sample line. */
export interface TextSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

/** The samples of a text exposition; a line that is not a sample, a comment or blank throws (with the line). */
export function parseTextFormat(text: string): TextSample[] {
  const out: TextSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line.slice(0, 120)}`);
    out.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value: parseValue(m[3]!, line) });
  }
  return out;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m || LABEL.lastIndex === start) {
      if (text.slice(start).trim() === '') break;
      throw new Error(`bad labels in: ${line.slice(0, 120)}`);
    }
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

function parseValue(v: string, line: string): number {
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`bad value in: ${line.slice(0, 120)}`);
  return n;
}
