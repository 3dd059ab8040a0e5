/**
 * The pool config schema: one test per rule, each asserting the message a person would read
 * (`pool "<name>": <field>: <what is wrong>`), plus: every problem is reported at once, defaults are
 * applied, unknown fields are refused at every level, and malformed JSON is a problem like any other.
 */
import { describe, expect, it } from 'vitest';
import {
  architectureOfType,
  InvalidPoolConfigError,
  normalizedLabels,
  parsePoolsConfig,
  validatePoolsConfig,
} from '../../scheduler/core/pool-config.js';

const subnet = 'subnet-0000000a';

function pool(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'linux-x64',
    labels: ['linux', 'x64'],
    architecture: 'x64',
    instanceTypes: ['m7i.large'],
    subnets: [subnet],
    defaultSize: 2,
    maximum: 20,
    ...overrides,
  };
}

function window(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { days: ['mon'], from: '08:00', to: '18:00', timezone: 'UTC', size: 4, ...overrides };
}

function problems(document: unknown): string[] {
  const result = validatePoolsConfig(document);
  if (result.ok) throw new Error('expected the document to be rejected');
  return result.problems;
}

const onePool = (overrides: Record<string, unknown> = {}) => ({ pools: [pool(overrides)] });

describe('pool config: valid documents', () => {
  it('accepts a minimal pool and applies every default', () => {
    const result = validatePoolsConfig(onePool());
    expect(result).toEqual({
      ok: true,
      config: {
        pools: [
          {
            ...pool(),
            volumeSizeGb: 30,
            schedule: [],
            fallback: { resize: true, spot: true, onDemand: true, rerunInterrupted: true },
            forecast: { enabled: false, quantile: 0.9, weeks: 4 },
            prePullImages: [],
          },
        ],
        settings: {
          claimTimeoutSeconds: 600,
          pendingJobSeconds: 60,
          warmupTimeoutSeconds: 1_200,
          orphanGraceSeconds: 600,
          noJobTimeoutSeconds: 1_800,
          maxLifetimeSeconds: 86_400,
          rollBatchSize: 2,
          launchBatchSize: 20,
          reconcileGitHubRequestsPerHour: 2_000,
          reconcileConcurrency: 8,
        },
      },
    });
  });

  it('fills defaults inside partly given objects', () => {
    const result = validatePoolsConfig({
      pools: [pool({ fallback: { spot: false }, forecast: { enabled: true } })],
      settings: { rollBatchSize: 5 },
    });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const [only] = result.config.pools;
    expect(only?.fallback).toEqual({ resize: true, spot: false, onDemand: true, rerunInterrupted: true });
    expect(only?.forecast).toEqual({ enabled: true, quantile: 0.9, weeks: 4 });
    expect(result.config.settings.rollBatchSize).toBe(5);
    expect(result.config.settings.launchBatchSize).toBe(20);
  });

  it('accepts no pools at all', () => {
    expect(validatePoolsConfig({ pools: [] }).ok).toBe(true);
  });

  it('accepts overnight windows, the edges of the day and graviton pools', () => {
    const result = validatePoolsConfig({
      pools: [
        pool({ schedule: [window({ from: '22:00', to: '06:00' }), window({ from: '00:00', to: '23:59' })] }),
        pool({
          name: 'linux-arm64',
          labels: ['linux', 'arm64'],
          architecture: 'arm64',
          instanceTypes: ['m7g.large', 'c7gn.xlarge', 't4g.medium', 'r8g.large'],
        }),
      ],
    });
    expect(result.ok).toBe(true);
  });

  it('parses JSON text the same way', () => {
    const result = parsePoolsConfig(JSON.stringify(onePool()));
    expect(result.ok).toBe(true);
  });
});

describe('pool config: one rule at a time', () => {
  it('name: lowercase letters, digits and dashes, at most 32', () => {
    expect(problems(onePool({ name: 'Linux_X64' }))).toEqual([
      'pool "Linux_X64": name: must be 1-32 lowercase letters, digits or dashes, starting with a letter or digit (given "Linux_X64")',
    ]);
    expect(problems(onePool({ name: '-linux' }))).toHaveLength(1);
    expect(problems(onePool({ name: 'a'.repeat(33) }))).toHaveLength(1);
    expect(problems(onePool({ name: '' }))).toHaveLength(1);
    expect(validatePoolsConfig(onePool({ name: 'a'.repeat(32) })).ok).toBe(true);
  });

  it('name: a pool without a string name is named by its index', () => {
    expect(problems(onePool({ name: 7 }))).toEqual([
      'pools[0]: name: Invalid input: expected string, received number (given 7)',
    ]);
  });

  it('name: unique across pools', () => {
    const doc = { pools: [pool(), pool({ labels: ['linux', 'x64', 'gpu'] })] };
    expect(problems(doc)).toEqual(['pool "linux-x64": name: is used by another pool (given "linux-x64")']);
  });

  it('labels: two pools may not serve the same set, compared case-insensitively and in any order', () => {
    const doc = { pools: [pool(), pool({ name: 'other', labels: ['X64', 'Linux'] })] };
    expect(problems(doc)).toEqual([
      'pool "other": labels: serves the same labels as pool "linux-x64", so jobs could not tell them apart',
    ]);
  });

  it('labels: `self-hosted` and repeated labels do not make a set different', () => {
    const doc = {
      pools: [pool(), pool({ name: 'other', labels: ['self-hosted', 'linux', 'X64', 'x64'] })],
    };
    expect(problems(doc)).toEqual([
      'pool "other": labels: serves the same labels as pool "linux-x64", so jobs could not tell them apart',
    ]);
  });

  it('labels: subsets and supersets are different pools', () => {
    const doc = { pools: [pool(), pool({ name: 'gpu', labels: ['linux', 'x64', 'gpu'] })] };
    expect(validatePoolsConfig(doc).ok).toBe(true);
  });

  it('labels: at least one, at most 20, none empty', () => {
    expect(problems(onePool({ labels: [] }))).toEqual([
      'pool "linux-x64": labels: must list at least one label',
    ]);
    const many = Array.from({ length: 21 }, (_, i) => `label-${i}`);
    expect(problems(onePool({ labels: many }))).toEqual([
      'pool "linux-x64": labels: GitHub allows at most 20 labels on a runner',
    ]);
    expect(validatePoolsConfig(onePool({ labels: many.slice(0, 20) })).ok).toBe(true);
    expect(problems(onePool({ labels: ['linux', ''] }))[0]).toMatch(/^pool "linux-x64": labels\[1\]: /);
  });

  it('instanceTypes: EC2 type names only', () => {
    expect(problems(onePool({ instanceTypes: ['M7i', 'm7i'] }))).toEqual([
      'pool "linux-x64": instanceTypes[0]: is not an EC2 instance type (given "M7i")',
      'pool "linux-x64": instanceTypes[1]: is not an EC2 instance type (given "m7i")',
    ]);
    expect(problems(onePool({ instanceTypes: [] }))).toEqual([
      'pool "linux-x64": instanceTypes: must list at least one instance type',
    ]);
    expect(validatePoolsConfig(onePool({ instanceTypes: ['m7i-flex.large', 'u-6tb1.metal'] })).ok).toBe(true);
  });

  it('instanceTypes: an arm64 type in an x64 pool and the reverse', () => {
    expect(problems(onePool({ instanceTypes: ['m7i.large', 'm7g.large'] }))).toEqual([
      'pool "linux-x64": instanceTypes[1]: m7g.large is arm64, the pool is x64',
    ]);
    expect(
      problems(
        onePool({ labels: ['arm'], architecture: 'arm64', instanceTypes: ['c7gn.large', 'c7i.large'] }),
      ),
    ).toEqual(['pool "linux-x64": instanceTypes[1]: c7i.large is x64, the pool is arm64']);
  });

  it('instanceTypes: listed once', () => {
    expect(problems(onePool({ instanceTypes: ['m7i.large', 'm6i.large', 'm7i.large'] }))).toEqual([
      'pool "linux-x64": instanceTypes: lists a type twice',
    ]);
  });

  it('architecture: x64 or arm64', () => {
    expect(problems(onePool({ architecture: 'aarch64' }))[0]).toMatch(
      /^pool "linux-x64": architecture: .* \(given "aarch64"\)$/,
    );
  });

  it('subnets: subnet ids, listed once', () => {
    expect(problems(onePool({ subnets: ['sub-1234', 'subnet-XYZ00000'] }))).toEqual([
      'pool "linux-x64": subnets[0]: is not a subnet id (given "sub-1234")',
      'pool "linux-x64": subnets[1]: is not a subnet id (given "subnet-XYZ00000")',
    ]);
    expect(problems(onePool({ subnets: [subnet, 'subnet-0000000b', subnet] }))).toEqual([
      'pool "linux-x64": subnets: lists a subnet twice',
    ]);
    expect(problems(onePool({ subnets: [] }))).toEqual([
      'pool "linux-x64": subnets: must list at least one subnet',
    ]);
    expect(validatePoolsConfig(onePool({ subnets: ['subnet-0123456789abcdef0'] })).ok).toBe(true);
  });

  it('volumeSizeGb: whole gigabytes between 8 and 16384', () => {
    expect(problems(onePool({ volumeSizeGb: 7 }))).toEqual([
      'pool "linux-x64": volumeSizeGb: Too small: expected number to be >=8 (given 7)',
    ]);
    expect(problems(onePool({ volumeSizeGb: 16_385 }))).toEqual([
      'pool "linux-x64": volumeSizeGb: Too big: expected number to be <=16384 (given 16385)',
    ]);
    expect(problems(onePool({ volumeSizeGb: 30.5 }))).toHaveLength(1);
    expect(validatePoolsConfig(onePool({ volumeSizeGb: 8 })).ok).toBe(true);
    expect(validatePoolsConfig(onePool({ volumeSizeGb: 16_384 })).ok).toBe(true);
  });

  it('defaultSize: not over the maximum', () => {
    expect(problems(onePool({ defaultSize: 30 }))).toEqual([
      'pool "linux-x64": defaultSize: 30 is over its maximum 20',
    ]);
    expect(validatePoolsConfig(onePool({ defaultSize: 20 })).ok).toBe(true);
  });

  it('maximum: between 0 and 1000', () => {
    expect(problems(onePool({ defaultSize: 0, maximum: 1_001 }))).toHaveLength(1);
    expect(validatePoolsConfig(onePool({ defaultSize: 0, maximum: 0 })).ok).toBe(true);
  });

  it('schedule: a window size over the maximum', () => {
    expect(problems(onePool({ schedule: [window({ size: 40 })] }))).toEqual([
      'pool "linux-x64": schedule[0].size: 40 is over its maximum 20',
    ]);
  });

  it('schedule: days are named, at least one', () => {
    expect(problems(onePool({ schedule: [window({ days: [] })] }))).toEqual([
      'pool "linux-x64": schedule[0].days: must name at least one day',
    ]);
    const [bad] = problems(onePool({ schedule: [window({ days: ['monday'] })] }));
    expect(bad).toMatch(/^pool "linux-x64": schedule\[0\]\.days\[0\]: .*"mon".*\(given "monday"\)$/);
  });

  it('schedule: 24-hour HH:MM times', () => {
    expect(problems(onePool({ schedule: [window({ from: '8:00', to: '24:00' })] }))).toEqual([
      'pool "linux-x64": schedule[0].from: must be a 24-hour time "HH:MM" (given "8:00")',
      'pool "linux-x64": schedule[0].to: must be a 24-hour time "HH:MM" (given "24:00")',
    ]);
    expect(problems(onePool({ schedule: [window({ from: '08:60' })] }))).toHaveLength(1);
  });

  it('schedule: from and to differ', () => {
    expect(problems(onePool({ schedule: [window({ from: '08:00', to: '08:00' })] }))).toEqual([
      'pool "linux-x64": schedule[0].to: "from" and "to" are equal: the window would be empty (given "08:00")',
    ]);
  });

  it('schedule: IANA time zones only', () => {
    expect(problems(onePool({ schedule: [window({ timezone: 'Mars/Olympus' })] }))).toEqual([
      'pool "linux-x64": schedule[0].timezone: is not an IANA time zone (e.g. "Europe/Paris") (given "Mars/Olympus")',
    ]);
    for (const timezone of ['Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'UTC'])
      expect(validatePoolsConfig(onePool({ schedule: [window({ timezone })] })).ok, timezone).toBe(true);
  });

  it('settings: bounds', () => {
    expect(problems({ ...onePool(), settings: { rollBatchSize: 0 } })).toEqual([
      'settings.rollBatchSize: Too small: expected number to be >=1 (given 0)',
    ]);
    expect(problems({ ...onePool(), settings: { claimTimeoutSeconds: 3 } })).toEqual([
      'settings.claimTimeoutSeconds: Too small: expected number to be >=30 (given 3)',
    ]);
  });

  it('forecast: quantile in [0, 1], weeks 1 to 12', () => {
    expect(problems(onePool({ forecast: { quantile: 2 } }))).toEqual([
      'pool "linux-x64": forecast.quantile: Too big: expected number to be <=1 (given 2)',
    ]);
    expect(problems(onePool({ forecast: { weeks: 13 } }))).toHaveLength(1);
  });
});

describe('pool config: the hot tier', () => {
  const hotWindow = (overrides: Record<string, unknown> = {}) => ({
    days: ['mon', 'tue'],
    from: '08:00',
    to: '19:00',
    timezone: 'Europe/Paris',
    max: 2,
    ...overrides,
  });

  it('accepts quotas and sizes, filling the override maps', () => {
    const result = validatePoolsConfig(
      onePool({
        quotas: {
          repository: { instances: 10, jobsPerDay: 500 },
          repositories: { 'acme/monorepo': { instances: 40 } },
        },
        sizes: { large: { instanceType: 'm7i.2xlarge' } },
      }),
    );
    expect(result.ok && result.config.pools[0]?.quotas).toEqual({
      repository: { instances: 10, jobsPerDay: 500 },
      repositories: { 'acme/monorepo': { instances: 40 } },
      organizations: {},
    });
    expect(result.ok && result.config.pools[0]?.sizes).toEqual({ large: { instanceType: 'm7i.2xlarge' } });
  });

  it('reports every problem of quotas and sizes at once, each naming the pool and the field', () => {
    expect(
      problems(
        onePool({
          quotas: {
            repository: { instances: -1, perHour: 3 },
            organization: { instances: 20 },
            repositories: { 'not a repo': { instances: 1 }, 'acme/big': { instances: 30 }, 'Acme/Big': {} },
            organizations: { 'bad owner!': {} },
          },
          sizes: {
            large: { instanceType: 'm7g.2xlarge' },
            Linux: { instanceType: 'm7i.2xlarge' },
            huge: { instanceType: 'not-a-type' },
            LARGE: { instanceType: 'm7i.4xlarge', cores: 16 },
          },
        }),
      ),
    ).toEqual([
      'pool "linux-x64": quotas.repository.instances: Too small: expected number to be >=0 (given -1)',
      'pool "linux-x64": quotas.repository: Unrecognized key: "perHour"',
      'pool "linux-x64": sizes.huge.instanceType: is not an EC2 instance type (given "not-a-type")',
      'pool "linux-x64": sizes.LARGE: Unrecognized key: "cores"',
      'pool "linux-x64": quotas.repositories.not a repo: "not a repo" is not "owner/name"',
      'pool "linux-x64": quotas.repositories.Acme/Big: "Acme/Big" and "acme/big" name the same (names ignore case)',
      'pool "linux-x64": quotas.organizations.bad owner!: "bad owner!" is not a GitHub owner name',
      'pool "linux-x64": quotas.repositories.acme/big.instances: 30 is over the organization quota 20 of "acme": it could never be reached',
      'pool "linux-x64": sizes.large.instanceType: m7g.2xlarge is arm64, the pool is x64',
      'pool "linux-x64": sizes.Linux: "Linux" is already a label of the pool: it cannot name a size',
      'pool "linux-x64": sizes.LARGE: "LARGE" and "large" are the same label (labels ignore case)',
    ]);
  });

  it('accepts a hot tier and applies its defaults', () => {
    const result = validatePoolsConfig(onePool({ hot: { maximum: 3, windows: [hotWindow()] } }));
    expect(result.ok && result.config.pools[0]?.hot).toEqual({
      maximum: 3,
      windows: [{ ...hotWindow(), min: 0 }],
      outsideWindows: 0,
      fill: ['pool', 'spot', 'on-demand'],
      maxIdleMinutes: 240,
    });
    const model = validatePoolsConfig(
      onePool({ hot: { maximum: 3, costModel: { valuePerWaitSecondUsd: 0.002 } } }),
    );
    expect(model.ok && model.config.pools[0]?.hot?.costModel).toEqual({
      valuePerWaitSecondUsd: 0.002,
      secondsSavedPerHit: 17,
      jobMinutes: 10,
    });
  });

  it('reports every problem of a hot tier at once, each naming the pool and the field', () => {
    expect(
      problems(
        onePool({
          hot: {
            maximum: 2,
            outsideWindows: 3,
            fill: ['spot', 'spot'],
            dailyBudgetUsd: -1,
            windows: [hotWindow({ min: 3, max: 1 }), hotWindow({ max: 5, timezone: 'Mars/Olympus' })],
          },
        }),
      ),
    ).toEqual([
      'pool "linux-x64": hot.windows[1].timezone: is not an IANA time zone (e.g. "Europe/Paris") (given "Mars/Olympus")',
      'pool "linux-x64": hot.dailyBudgetUsd: Too small: expected number to be >0 (given -1)',
      'pool "linux-x64": hot.outsideWindows: 3 is over the hot tier\'s maximum 2',
      'pool "linux-x64": hot.fill: lists a source twice',
      'pool "linux-x64": hot.windows[0].min: min 3 is over max 1',
      'pool "linux-x64": hot.windows[1].max: 5 is over the hot tier\'s maximum 2',
    ]);
  });

  it('refuses unknown sources, fields and a missing maximum', () => {
    const found = problems(onePool({ hot: { fill: ['warm'], windows: [], extra: 1 } }));
    expect(found.some((p) => /hot\.fill\[0\]/.test(p))).toBe(true);
    expect(found.some((p) => /hot: .*"extra"/.test(p))).toBe(true);
    expect(found.some((p) => /hot\.maximum/.test(p))).toBe(true);
  });
});

describe('pool config: unknown fields are refused at every level', () => {
  it.each([
    ['the root', { ...onePool(), extra: 1 }, '(root): Unrecognized key: "extra"'],
    ['a pool', onePool({ extra: 1 }), 'pool "linux-x64": Unrecognized key: "extra"'],
    ['settings', { ...onePool(), settings: { extra: 1 } }, 'settings: Unrecognized key: "extra"'],
    [
      'a window',
      onePool({ schedule: [window({ extra: 1 })] }),
      'pool "linux-x64": schedule[0]: Unrecognized key: "extra"',
    ],
    [
      'fallback',
      onePool({ fallback: { extra: 1 } }),
      'pool "linux-x64": fallback: Unrecognized key: "extra"',
    ],
    [
      'forecast',
      onePool({ forecast: { extra: 1 } }),
      'pool "linux-x64": forecast: Unrecognized key: "extra"',
    ],
  ])('in %s', (_, document, message) => {
    expect(problems(document)).toEqual([message]);
  });

  it('catches a misspelt field instead of silently using the default', () => {
    expect(problems(onePool({ volumeSize: 100 }))).toEqual([
      'pool "linux-x64": Unrecognized key: "volumeSize"',
    ]);
  });
});

describe('pool config: the whole document at once', () => {
  it('reports five mistakes as five messages, each naming its pool and field', () => {
    const document = {
      pools: [
        pool({
          name: 'linux-x64',
          subnets: ['sub-1'],
          defaultSize: 30,
          schedule: [window({ size: 40 }), window({ timezone: 'Mars/Olympus' })],
        }),
        pool({ name: 'Linux_ARM', labels: ['arm64'], architecture: 'arm64', instanceTypes: ['m7g.large'] }),
      ],
    };
    expect(problems(document).sort()).toEqual(
      [
        'pool "linux-x64": subnets[0]: is not a subnet id (given "sub-1")',
        'pool "linux-x64": defaultSize: 30 is over its maximum 20',
        'pool "linux-x64": schedule[0].size: 40 is over its maximum 20',
        'pool "linux-x64": schedule[1].timezone: is not an IANA time zone (e.g. "Europe/Paris") (given "Mars/Olympus")',
        'pool "Linux_ARM": name: must be 1-32 lowercase letters, digits or dashes, starting with a letter or digit (given "Linux_ARM")',
      ].sort(),
    );
  });

  it('checks across fields and pools even when fields are malformed', () => {
    const document = {
      pools: [
        pool({
          instanceTypes: ['m7i.large', 'm7g.large', 'bogus'],
          volumeSizeGb: 1,
          schedule: [window({ from: '08:00', to: '08:00', timezone: 'Nowhere' })],
        }),
        pool({ name: 'linux-x64', labels: ['LINUX', 'x64'], maximum: 'ten' }),
      ],
    };
    const found = problems(document);
    expect(found).toContain('pool "linux-x64": instanceTypes[1]: m7g.large is arm64, the pool is x64');
    expect(found).toContain(
      'pool "linux-x64": instanceTypes[2]: is not an EC2 instance type (given "bogus")',
    );
    expect(found).toContain(
      'pool "linux-x64": schedule[0].to: "from" and "to" are equal: the window would be empty (given "08:00")',
    );
    expect(found).toContain('pool "linux-x64": name: is used by another pool (given "linux-x64")');
    expect(found.filter((p) => p.includes('serves the same labels'))).toHaveLength(1);
    // A malformed maximum is reported once, without a comparison against it.
    expect(found.filter((p) => p.includes('maximum'))).toEqual([
      'pool "linux-x64": maximum: Invalid input: expected number, received string (given "ten")',
    ]);
  });

  it('reports a document that is not an object, or has no pools', () => {
    expect(problems(null)).toEqual(['(root): Invalid input: expected object, received null']);
    expect(problems({})).toEqual(['pools: Invalid input: expected array, received undefined']);
    expect(problems({ pools: [null] })).toEqual(['pools[0]: Invalid input: expected object, received null']);
  });

  it('reports malformed JSON as one problem', () => {
    const result = parsePoolsConfig('{"pools": [}');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(/^\(root\): not valid JSON \(/);
  });

  it('carries every problem in InvalidPoolConfigError', () => {
    const error = new InvalidPoolConfigError(['a: one', 'b: two'], { cause: new Error('root') });
    expect(error.name).toBe('InvalidPoolConfigError');
    expect(error.message).toBe('invalid pool config:\n  a: one\n  b: two');
    expect(error.problems).toEqual(['a: one', 'b: two']);
    expect(error.cause).toBeInstanceOf(Error);
  });
});

describe('architectureOfType', () => {
  it.each([
    ['m7g.large', 'arm64'],
    ['c7gn.xlarge', 'arm64'],
    ['t4g.micro', 'arm64'],
    ['r8g.2xlarge', 'arm64'],
    ['m6gd.large', 'arm64'],
    ['x2gd.large', 'arm64'],
    ['im4gn.large', 'arm64'],
    ['g5g.xlarge', 'arm64'],
    ['a1.large', 'arm64'],
    ['m7i.large', 'x64'],
    ['m7i-flex.large', 'x64'],
    ['c6a.large', 'x64'],
    ['g5.xlarge', 'x64'],
    ['gr6.4xlarge', 'x64'],
    ['t3.micro', 'x64'],
    ['hpc7a.96xlarge', 'x64'],
  ])('%s is %s', (type, arch) => {
    expect(architectureOfType(type)).toBe(arch);
  });
});

describe('normalizedLabels', () => {
  it('lowercases and trims', () => {
    expect(normalizedLabels([' Linux', 'X64 '])).toEqual(['linux', 'x64']);
  });
});
