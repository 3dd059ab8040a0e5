/**
 * The latency-against-cost chart as hand-written SVG: p95 pickup (y) against cost per job (x), one
 * labelled point per policy, plus the running idle pool's curve over the pool sizes tried (the thin
 * line), so that "cheaper at equal p95" can be read off the picture.
 */
import type { CurvePoint } from './report.js';

export interface ChartPoint {
  readonly label: string;
  readonly costPerJob: number;
  readonly p95S: number;
  readonly color: string;
}

const width = 760;
const height = 460;
const margin = { left: 70, right: 30, top: 40, bottom: 60 };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round steps for axis ticks (1, 2, 2.5 or 5 times a power of ten), the last one at or above `max`. */
function ticks(max: number, count = 5): number[] {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((v) => v >= raw) ?? raw;
  const out: number[] = [0];
  while ((out[out.length - 1] ?? 0) < max) out.push(Number((out.length * step).toPrecision(6)));
  return out;
}

export function latencyCostSvg(
  points: readonly ChartPoint[],
  curve: readonly CurvePoint[],
  title: string,
): string {
  const all = [
    ...points.map((p) => ({ x: p.costPerJob, y: p.p95S })),
    ...curve.map((c) => ({ x: c.costPerJob, y: c.p95S })),
  ];
  const xTicks = ticks(Math.max(...all.map((p) => p.x), 1e-4) * 1.1);
  const yTicks = ticks(Math.max(...all.map((p) => p.y), 1) * 1.1);
  const xMax = xTicks[xTicks.length - 1] ?? 1;
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const px = (x: number) => margin.left + (x / xMax) * plotW;
  const py = (y: number) => margin.top + plotH - (y / yMax) * plotH;
  const f = (v: number) => v.toFixed(1);

  const lines: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  for (const t of xTicks) {
    lines.push(
      `<line x1="${f(px(t))}" y1="${margin.top}" x2="${f(px(t))}" y2="${margin.top + plotH}" stroke="#eee"/>`,
      `<text x="${f(px(t))}" y="${margin.top + plotH + 18}" text-anchor="middle">$${t.toFixed(4).replace(/0+$/, '').replace(/\.$/, '')}</text>`,
    );
  }
  for (const t of yTicks) {
    lines.push(
      `<line x1="${margin.left}" y1="${f(py(t))}" x2="${margin.left + plotW}" y2="${f(py(t))}" stroke="#eee"/>`,
      `<text x="${margin.left - 8}" y="${f(py(t) + 4)}" text-anchor="end">${t}</text>`,
    );
  }
  lines.push(
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${margin.top + plotH}" stroke="black"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotH}" stroke="black"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 18}" text-anchor="middle">cost per job (USD)</text>`,
    `<text x="18" y="${margin.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 18 ${margin.top + plotH / 2})">p95 queued → running (s)</text>`,
  );
  if (curve.length > 1) {
    const sorted = [...curve].sort((a, b) => a.scale - b.scale);
    const path = sorted.map((c) => `${f(px(c.costPerJob))},${f(py(c.p95S))}`).join(' ');
    lines.push(`<polyline points="${path}" fill="none" stroke="#999" stroke-dasharray="4 3"/>`);
    for (const c of sorted)
      lines.push(
        `<circle cx="${f(px(c.costPerJob))}" cy="${f(py(c.p95S))}" r="3" fill="#999"/>`,
        `<text x="${f(px(c.costPerJob) + 5)}" y="${f(py(c.p95S) - 5)}" fill="#777" font-size="10">×${c.scale}</text>`,
      );
  }
  points.forEach((p, i) => {
    lines.push(
      `<circle cx="${f(px(p.costPerJob))}" cy="${f(py(p.p95S))}" r="6" fill="${p.color}" stroke="black"/>`,
      `<rect x="${margin.left + plotW - 370}" y="${margin.top + 8 + i * 18}" width="10" height="10" fill="${p.color}" stroke="black"/>`,
      `<text x="${margin.left + plotW - 355}" y="${margin.top + 17 + i * 18}">${escapeXml(p.label)}</text>`,
    );
  });
  if (curve.length > 1)
    lines.push(
      `<text x="${margin.left + plotW - 370}" y="${margin.top + 17 + points.length * 18}" fill="#777">- - running pool at other sizes (× schedule)</text>`,
    );
  lines.push('</svg>');
  return `${lines.join('\n')}\n`;
}
