/**
 * Label matching as GitHub does it: case-insensitive, every job label served, `self-hosted` implied;
 * a job naming no pool is not ours; among pools that serve a job the tightest wins, then config order.
 */
import { describe, expect, it } from 'vitest';
import { matchPool, poolServes, runnerLabels } from '../../scheduler/core/labels.js';
import { poolDocument, validConfig } from './support.js';

const config = validConfig({
  pools: [
    poolDocument({ name: 'linux-x64', labels: ['Linux', 'X64'] }),
    poolDocument({
      name: 'linux-arm64',
      labels: ['linux', 'arm64'],
      architecture: 'arm64',
      instanceTypes: ['m7g.large'],
    }),
    poolDocument({ name: 'gpu', labels: ['linux', 'x64', 'gpu'] }),
  ],
});
const pool = (name: string) => {
  const found = config.pools.find((p) => p.name === name);
  if (found === undefined) throw new Error(name);
  return found;
};

describe('runnerLabels', () => {
  it('adds self-hosted and lowercases, once each', () => {
    expect(runnerLabels(pool('linux-x64'))).toEqual(['self-hosted', 'linux', 'x64']);
    const explicit = { ...pool('linux-x64'), labels: ['self-hosted', 'Linux', 'linux'] };
    expect(runnerLabels(explicit)).toEqual(['self-hosted', 'linux']);
  });
});

describe('poolServes', () => {
  it('compares case-insensitively and ignores surrounding spaces', () => {
    expect(poolServes(pool('linux-x64'), ['LINUX', ' x64 '])).toBe(true);
  });

  it('needs every job label served', () => {
    expect(poolServes(pool('linux-x64'), ['linux', 'x64', 'gpu'])).toBe(false);
    expect(poolServes(pool('linux-x64'), ['linux'])).toBe(true);
  });

  it('implies self-hosted', () => {
    expect(poolServes(pool('linux-x64'), ['self-hosted', 'linux', 'x64'])).toBe(true);
    expect(poolServes(pool('linux-x64'), ['Self-Hosted'])).toBe(true);
  });
});

describe('matchPool', () => {
  it('finds the pool for its labels in any case', () => {
    expect(matchPool(config, ['self-hosted', 'LINUX', 'x64'])?.name).toBe('linux-x64');
    expect(matchPool(config, ['linux', 'ARM64'])?.name).toBe('linux-arm64');
    expect(matchPool(config, ['gpu'])?.name).toBe('gpu');
  });

  it('leaves jobs no pool serves to others', () => {
    expect(matchPool(config, ['ubuntu-latest'])).toBeUndefined();
    expect(matchPool(config, ['linux', 'arm64', 'gpu'])).toBeUndefined();
    expect(matchPool(config, ['windows', 'x64'])).toBeUndefined();
  });

  it('treats no labels, or only self-hosted, as naming no pool', () => {
    expect(matchPool(config, [])).toBeUndefined();
    expect(matchPool(config, ['self-hosted'])).toBeUndefined();
    expect(matchPool(config, ['Self-Hosted', ' SELF-HOSTED '])).toBeUndefined();
  });

  it('picks the tightest of several pools that serve the job', () => {
    // Both linux-x64 and gpu serve [linux, x64]; linux-x64 has fewer labels, so gpu stays free for GPU jobs.
    expect(matchPool(config, ['linux', 'x64'])?.name).toBe('linux-x64');
    const reversed = { ...config, pools: [...config.pools].reverse() };
    expect(matchPool(reversed, ['linux', 'x64'])?.name).toBe('linux-x64');
  });

  it('breaks ties by config order', () => {
    // [linux] is served by linux-x64 and linux-arm64, both with two labels.
    expect(matchPool(config, ['linux'])?.name).toBe('linux-x64');
    const reversed = { ...config, pools: [...config.pools].reverse() };
    expect(matchPool(reversed, ['linux'])?.name).toBe('linux-arm64');
  });

  it('measures tightness by the labels a runner carries, not by how the config spells them', () => {
    const spelled = validConfig({
      pools: [
        poolDocument({ name: 'wide', labels: ['linux', 'x64', 'gpu'] }),
        // Three entries but only two labels on the runner: self-hosted and linux.
        poolDocument({ name: 'narrow', labels: ['self-hosted', 'Linux', 'linux'] }),
      ],
    });
    expect(matchPool(spelled, ['linux'])?.name).toBe('narrow');
  });
});
