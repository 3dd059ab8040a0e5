/**
 * Replaying an organization's own history: a CSV of jobs with a header row naming at least
 * `created_at`, `labels` and `duration_s` (any order; other columns, e.g. `run_id`, are kept when known
 * and otherwise ignored).
 *
 *   created_at  ISO 8601 with a zone (`2026-01-05T09:00:03Z`, `…+01:00`) or epoch seconds
 *   labels      the job's `runs-on` labels, separated by `;`, `|` or `,` (quote the field for commas)
 *   duration_s  seconds from the job starting to it completing, > 0 and at most 5 days
 *   run_id      optional: jobs of one workflow run
 *
 * Fields follow RFC 4180 (double quotes, `""` inside quotes). Every bad row is reported at once with its
 * line number, like the pool config: one fix-and-retry, not one per problem.
 */
import { readFileSync } from 'node:fs';
import type { Trace, TraceJob } from './trace.js';

export class TraceFormatError extends Error {
  override readonly name = 'TraceFormatError';
  constructor(
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    const shown = problems.slice(0, 20);
    const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : '';
    super(`invalid job trace:\n  ${shown.join('\n  ')}${more}`, options);
  }
}

const required = ['created_at', 'labels', 'duration_s'] as const;
const maxDurationS = 5 * 24 * 3600;

/** Splits CSV text into records of fields, with the line each record starts on. */
function records(text: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let touched = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      touched = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
      touched = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      if (touched || field !== '') out.push({ line: recordLine, fields: [...fields, field] });
      fields = [];
      field = '';
      touched = false;
      line++;
      recordLine = line;
    } else {
      field += c;
      touched = true;
    }
  }
  if (touched || field !== '') out.push({ line: recordLine, fields: [...fields, field] });
  return out;
}

function parseTime(value: string): number | undefined {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  // A zone is required: a bare local time would be read in the machine's zone.
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(v)) return undefined;
  const ms = Date.parse(v.replace(' ', 'T'));
  return Number.isNaN(ms) ? undefined : ms;
}

export interface CsvTraceOptions {
  /** Time zone the organization works in (for schedules); the timestamps carry their own zone. */
  readonly timeZone?: string;
  readonly source?: string;
}

export function parseTraceCsv(text: string, options: CsvTraceOptions = {}): Trace {
  const rows = records(text.replace(/^\uFEFF/, ''));
  const header = rows.shift();
  if (header === undefined) throw new TraceFormatError(['the file is empty: expected a header row']);
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const missing = required.filter((r) => !names.includes(r));
  if (missing.length > 0)
    throw new TraceFormatError([
      `line ${header.line}: header lacks ${missing.map((m) => `"${m}"`).join(', ')} (it has ${names.map((n) => `"${n}"`).join(', ')})`,
    ]);
  const column = (name: string) => names.indexOf(name);
  const problems: string[] = [];
  const jobs: TraceJob[] = [];
  for (const { line, fields } of rows) {
    if (fields.length !== names.length) {
      problems.push(`line ${line}: ${fields.length} fields, the header has ${names.length}`);
      continue;
    }
    const at = (name: string) => fields[column(name)] ?? '';
    const rowProblems: string[] = [];
    const createdAt = parseTime(at('created_at'));
    if (createdAt === undefined)
      rowProblems.push(
        `created_at ${JSON.stringify(at('created_at'))} is not an ISO 8601 time with a zone or epoch seconds`,
      );
    const labels = at('labels')
      .split(/[;|,]/)
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (labels.length === 0) rowProblems.push('labels is empty');
    const duration = Number(at('duration_s').trim());
    if (
      at('duration_s').trim() === '' ||
      !Number.isFinite(duration) ||
      duration <= 0 ||
      duration > maxDurationS
    )
      rowProblems.push(
        `duration_s ${JSON.stringify(at('duration_s'))} is not a number of seconds in (0, ${maxDurationS}]`,
      );
    let runId: number | undefined;
    if (names.includes('run_id') && at('run_id').trim() !== '') {
      runId = Number(at('run_id').trim());
      if (!Number.isSafeInteger(runId) || runId <= 0)
        rowProblems.push(`run_id ${JSON.stringify(at('run_id'))} is not a positive integer`);
    }
    if (rowProblems.length > 0) {
      problems.push(...rowProblems.map((p) => `line ${line}: ${p}`));
      continue;
    }
    jobs.push({
      createdAt: createdAt as number,
      labels,
      durationS: duration,
      ...(runId !== undefined && { runId }),
    });
  }
  if (problems.length > 0) throw new TraceFormatError(problems);
  if (jobs.length === 0) throw new TraceFormatError(['no jobs: the file has a header and nothing else']);
  jobs.sort((a, b) => a.createdAt - b.createdAt);
  const first = (jobs[0] as TraceJob).createdAt;
  const last = (jobs[jobs.length - 1] as TraceJob).createdAt;
  return {
    jobs,
    start: Math.floor(first / 3_600_000) * 3_600_000,
    end: last + 1,
    timeZone: options.timeZone ?? 'UTC',
    source: options.source ?? 'CSV',
  };
}

export function readTraceCsv(path: string, options: CsvTraceOptions = {}): Trace {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TraceFormatError([`cannot read ${path}: ${(error as Error).message}`], { cause: error });
  }
  return parseTraceCsv(text, { source: `CSV ${path}`, ...options });
}
