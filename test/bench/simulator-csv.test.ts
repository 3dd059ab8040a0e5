/**
 * Replaying an organization's history from a CSV: what parses, and bad rows reported all at once with
 * their line numbers.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTraceCsv, readTraceCsv, TraceFormatError } from '../../bench/traces/csv.js';

function problemsOf(text: string): readonly string[] {
  try {
    parseTraceCsv(text);
  } catch (error) {
    if (error instanceof TraceFormatError) return error.problems;
    throw error;
  }
  throw new Error('expected the trace to be rejected');
}

describe('parseTraceCsv', () => {
  it('reads ISO times with a zone and epoch seconds, label separators, quotes, CRLF and extra columns', () => {
    const trace = parseTraceCsv(
      [
        'repo,created_at,labels,duration_s,run_id',
        'acme/app,2026-01-05T09:00:03Z,self-hosted;linux;x64,120,7',
        '"acme/web, the site",2026-01-05T10:00:00+01:00,"self-hosted,linux,x64",60.5,7',
        'acme/app,1767603700,linux | x64,30,',
      ].join('\r\n'),
      { timeZone: 'Europe/Paris' },
    );
    expect(trace.jobs).toEqual([
      {
        createdAt: Date.UTC(2026, 0, 5, 9, 0, 0),
        labels: ['self-hosted', 'linux', 'x64'],
        durationS: 60.5,
        runId: 7,
      },
      {
        createdAt: Date.UTC(2026, 0, 5, 9, 0, 3),
        labels: ['self-hosted', 'linux', 'x64'],
        durationS: 120,
        runId: 7,
      },
      { createdAt: 1_767_603_700_000, labels: ['linux', 'x64'], durationS: 30 },
    ]);
    expect(trace.timeZone).toBe('Europe/Paris');
    expect(trace.start).toBe(Date.UTC(2026, 0, 5, 9));
    expect(trace.end).toBe(1_767_603_700_001);
  });

  it('reports every bad row with its line number', () => {
    const problems = problemsOf(
      [
        'created_at,labels,duration_s',
        '2026-01-05T09:00:00Z,linux,60',
        '2026-01-05 09:00:00,linux,60', // no zone
        '2026-13-45T09:00:00Z,linux,60',
        '2026-01-05T09:00:00Z,,60',
        '2026-01-05T09:00:00Z,linux,-3',
        '2026-01-05T09:00:00Z,linux,soon',
        '2026-01-05T09:00:00Z,linux',
        'yesterday,,0',
      ].join('\n'),
    );
    expect(problems).toEqual([
      'line 3: created_at "2026-01-05 09:00:00" is not an ISO 8601 time with a zone or epoch seconds',
      'line 4: created_at "2026-13-45T09:00:00Z" is not an ISO 8601 time with a zone or epoch seconds',
      'line 5: labels is empty',
      'line 6: duration_s "-3" is not a number of seconds in (0, 432000]',
      'line 7: duration_s "soon" is not a number of seconds in (0, 432000]',
      'line 8: 2 fields, the header has 3',
      'line 9: created_at "yesterday" is not an ISO 8601 time with a zone or epoch seconds',
      'line 9: labels is empty',
      'line 9: duration_s "0" is not a number of seconds in (0, 432000]',
    ]);
  });

  it('counts lines inside quoted fields', () => {
    const problems = problemsOf(
      'created_at,labels,duration_s\n2026-01-05T09:00:00Z,"linux\nx64",60\nnope,linux,60\n',
    );
    expect(problems).toEqual([
      'line 4: created_at "nope" is not an ISO 8601 time with a zone or epoch seconds',
    ]);
  });

  it('rejects a file without the required columns, or without jobs', () => {
    expect(problemsOf('')).toEqual(['the file is empty: expected a header row']);
    expect(problemsOf('created,labels\n1,linux')).toEqual([
      'line 1: header lacks "created_at", "duration_s" (it has "created", "labels")',
    ]);
    expect(problemsOf('created_at,labels,duration_s\n')).toEqual([
      'no jobs: the file has a header and nothing else',
    ]);
  });

  it('says how many more problems there are than it shows', () => {
    const rows = Array.from({ length: 25 }, () => 'x,linux,1');
    try {
      parseTraceCsv(['created_at,labels,duration_s', ...rows].join('\n'));
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toMatch(/… and 5 more$/);
      expect((error as TraceFormatError).problems).toHaveLength(25);
    }
  });

  it('loads the sample shipped with the simulator, and names an unreadable file', () => {
    const trace = readTraceCsv(join(import.meta.dirname, '../../bench/traces/sample.csv'));
    expect(trace.jobs.length).toBeGreaterThan(20);
    expect(trace.jobs.every((j) => j.labels.includes('x64') && j.durationS > 0)).toBe(true);
    expect(() => readTraceCsv('/nonexistent/jobs.csv')).toThrow(/cannot read \/nonexistent\/jobs\.csv/);
  });
});
