// The sandbox dashboard: polls GET /api/state every second, keeps a history of samples (seeded from
// GET /api/history so a late visitor still sees the whole run) and draws it with inline SVG.
// No framework and no build step; the page loads nothing but its own files (see the CSP in serve.ts),
// so every element is built with the DOM API and every text set with textContent.
(() => {
  const pollMs = 1000;
  /** Sandbox-clock time shown by the time charts. */
  const windowMs = 5 * 60 * 1000;
  const maxSamples = 900;
  const sources = ['pool', 'pool-resized', 'spot', 'on-demand'];
  const sourceLabel = {
    pool: 'warm pool',
    'pool-resized': 'pool, resized',
    spot: 'spot',
    'on-demand': 'on-demand',
  };
  const sourceColor = { pool: '#22c55e', 'pool-resized': '#06b6d4', spot: '#a855f7', 'on-demand': '#f472b6' };
  const phases = [
    ['delivery', 'GitHub → webhook', 'created → received'],
    ['claim', 'Claim', 'received → claimed'],
    ['start', 'Start call', 'claimed → start issued'],
    ['boot', 'Boot', 'start issued → running'],
    ['pickup', 'Runner pickup', 'running → in progress'],
    ['queuedToRunning', 'Time to start', 'created → in progress'],
    ['run', 'Job run', 'in progress → completed'],
  ];
  const barPhases = ['delivery', 'claim', 'start', 'boot', 'pickup'];
  const layers = [
    ['ready', '#22c55e'],
    ['warming', '#f59e0b'],
    ['busy', '#3b82f6'],
    ['fallback', '#a855f7'],
  ];
  const svgNs = 'http://www.w3.org/2000/svg';

  let history = [];
  const formatters = {};

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === 'class') el.className = value;
      else if (key.startsWith('data-')) el.setAttribute(key, value);
      else el[key] = value;
    }
    for (const child of children)
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return el;
  }

  function s(tag, attrs, text) {
    const el = document.createElementNS(svgNs, tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function setText(selector, value, root) {
    for (const el of (root || document).querySelectorAll(selector)) el.textContent = value;
  }

  // ---- formatting ------------------------------------------------------------------------------------

  function ms(value) {
    if (value === undefined || value === null) return '–';
    if (value < 1000) return `${Math.round(value)} ms`;
    if (value < 60_000) return `${(value / 1000).toFixed(1)} s`;
    const minutes = Math.floor(value / 60_000);
    return `${minutes}m ${Math.round((value % 60_000) / 1000)}s`;
  }

  function usd(value) {
    if (value === undefined) return '–';
    if (value === 0) return '$0';
    if (value < 0.01) return `$${value.toFixed(4)}`;
    if (value < 100) return `$${value.toFixed(2)}`;
    return `$${Math.round(value).toLocaleString('en-US')}`;
  }

  function percent(part, whole) {
    return whole === 0 ? '–' : `${Math.round((100 * part) / whole)}%`;
  }

  function formatter(kind, timeZone) {
    const key = `${kind}:${timeZone || ''}`;
    if (!formatters[key]) {
      const options =
        kind === 'clock'
          ? { weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }
          : { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
      if (kind === 'clock') options.timeZoneName = 'short';
      if (timeZone) options.timeZone = timeZone;
      formatters[key] = new Intl.DateTimeFormat('en-GB', options);
    }
    return formatters[key];
  }

  // ---- data ------------------------------------------------------------------------------------------

  async function getJson(path) {
    const response = await fetch(path, { cache: 'no-store' });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function sampleOf(state) {
    const count = (...names) => names.reduce((sum, n) => sum + (state.jobCounts[n] || 0), 0);
    const pools = {};
    for (const p of state.pools)
      pools[p.name] = {
        target: p.target,
        ready: p.ready,
        warming: p.warming,
        busy: p.busy,
        fallback: p.fallback,
      };
    return {
      t: state.now,
      pools,
      jobs: {
        waiting: count('waiting', 'queued', 'provisioned'),
        running: count('running'),
        completed: count('completed'),
      },
      fallbackJobs: state.fallbackJobs,
      capacityErrors: state.metrics.capacityErrors.total,
      costUsd: state.cost.totalUsd,
    };
  }

  function remember(sample) {
    const last = history[history.length - 1];
    if (last && sample.t <= last.t) return;
    history.push(sample);
    if (history.length > maxSamples) history = history.slice(-maxSamples);
  }

  // ---- rendering -------------------------------------------------------------------------------------

  function render(state) {
    const tz = state.sandbox.timeZone;
    $('clock').textContent =
      formatter('clock', tz).format(state.now) +
      (state.sandbox.speed === 1 ? '' : ` · ×${state.sandbox.speed}`);
    $('mode').textContent = state.sandbox.demo ? `demo · seed ${state.sandbox.seed}` : 'sandbox';
    $('webhook-url').textContent = state.sandbox.endpoints.webhook;
    $('config-parameter').textContent = state.sandbox.poolConfigParameter;
    const rejection = state.config.rejection;
    const banner = $('config-rejection');
    banner.classList.toggle('hidden', !rejection);
    if (rejection)
      banner.textContent = `The latest pool config was rejected; the last good one stays in use:\n${rejection.problems.join('\n')}`;

    renderKpis(state);
    renderPools(state);
    renderHistogram(state);
    renderPhases(state);
    renderSources(state);
    renderFaults(state);
    renderCost(state);
    renderAttribution(state);
    renderInstances(state);
    renderJobs(state);
    document.body.dataset.renderedAt = String(state.now);
  }

  function renderKpis(state) {
    const c = state.jobCounts;
    const waiting = c.waiting + c.queued + c.provisioned;
    setText('[data-kpi="jobs-total"]', state.jobTotal);
    setText('[data-kpi="jobs-running"]', c.running);
    setText('[data-kpi="jobs-waiting"]', waiting);
    setText('[data-kpi="jobs-completed"]', c.completed);
    const pool = state.latency.timeToStartBySource.pool;
    setText('[data-kpi="start-p50"]', ms(pool.p50));
    setText('[data-kpi="start-p95"]', ms(pool.p95));
    setText('[data-kpi="start-all-p50"]', ms(state.latency.phases.queuedToRunning.p50));
    const served = Object.values(state.runnerSources).reduce((a, b) => a + b, 0);
    setText('[data-kpi="pool-share"]', percent(state.runnerSources.pool || 0, served));
    setText('[data-kpi="pool-jobs"]', state.runnerSources.pool || 0);
    setText('[data-kpi="fallback-jobs"]', state.fallbackJobs);
    setText('[data-kpi="ladder-failures"]', state.metrics.fallbacks.total);
    setText('[data-kpi="lost-races"]', state.metrics.lostRaces);
    setText('[data-kpi="claims"]', state.metrics.claims);
    setText('[data-kpi="capacity-errors"]', state.metrics.capacityErrors.total);
    setText('[data-kpi="redelivered"]', state.metrics.webhooksRedelivered);
    setText('[data-kpi="rejected"]', state.metrics.webhooksRejected.total);
    setText('[data-kpi="cost-total"]', usd(state.cost.totalUsd));
    setText('[data-kpi="cost-idle"]', usd(state.cost.ebsIdleUsd));
    setText('[data-kpi="cost-running-equivalent"]', usd(state.cost.runningPoolEquivalentUsd));
  }

  function renderPools(state) {
    const container = $('pools');
    for (const pool of state.pools) {
      let card = container.querySelector(`[data-pool="${CSS.escape(pool.name)}"]`);
      if (!card) {
        card = poolCard(pool);
        container.append(card);
      }
      for (const field of ['target', 'ready', 'warming', 'busy', 'fallback'])
        setText(`[data-field="${field}"]`, pool[field], card);
      setText('[data-field="maximum"]', pool.maximum, card);
      setText('[data-field="draining"]', pool.draining, card);
      renderHot(card, pool.hot);
      drawPoolChart(card.querySelector('svg'), pool.name, state);
    }
    for (const card of [...container.children])
      if (!state.pools.some((p) => p.name === card.dataset.pool)) card.remove();
  }

  /** The pool's hot tier: registered idle runners against their target, hits by tier, cost per day. */
  function renderHot(card, hot) {
    let row = card.querySelector('.hot-tier');
    if (!hot) {
      if (row) row.remove();
      return;
    }
    if (!row) {
      const item = (field, label) => h('span', {}, h('strong', { 'data-hot': field }, '–'), ` ${label}`);
      row = h(
        'div',
        { class: 'hot-tier' },
        h('span', { class: 'hot-label' }, 'hot tier'),
        item('idle', 'idle'),
        h('span', {}, '/ ', h('strong', { 'data-hot': 'target' }, '–'), ' target'),
        item('starting', 'starting'),
        item('busy', 'busy'),
        item('hits', 'hits hot/warm/cold'),
        item('cost', 'per day'),
      );
      card.querySelector('.counts').after(row);
    }
    setText('[data-hot="idle"]', hot.idle, row);
    setText('[data-hot="target"]', hot.target, row);
    setText('[data-hot="starting"]', hot.starting, row);
    setText('[data-hot="busy"]', hot.busy, row);
    setText('[data-hot="hits"]', `${hot.hits.hot}/${hot.hits.warm}/${hot.hits.cold}`, row);
    setText('[data-hot="cost"]', usd(hot.usdPerDay), row);
  }

  function poolCard(pool) {
    const chips = h('div', { class: 'chips' }, ...pool.labels.map((l) => h('span', { class: 'chip' }, l)));
    if (!pool.labels.some((l) => l.toLowerCase() === pool.architecture))
      chips.append(h('span', { class: 'chip' }, pool.architecture));
    chips.append(...pool.instanceTypes.map((t) => h('span', { class: 'chip type' }, t)));
    const cell = (field, label) =>
      h(
        'div',
        { class: `count-cell ${field}` },
        h('strong', { 'data-field': field }, '–'),
        h('span', {}, label),
      );
    const svg = s('svg', { class: 'chart', viewBox: '0 0 560 150', role: 'img' });
    svg.setAttribute('aria-label', `${pool.name} over time`);
    return h(
      'article',
      { class: 'pool', 'data-pool': pool.name },
      h(
        'div',
        { class: 'pool-head' },
        h('div', {}, h('h3', {}, pool.name), chips),
        h(
          'div',
          { class: 'target-box' },
          'target ',
          h('strong', { 'data-field': 'target' }, '–'),
          'max ',
          h('span', { 'data-field': 'maximum' }, '–'),
          ' · draining ',
          h('span', { 'data-field': 'draining' }, '–'),
        ),
      ),
      h(
        'div',
        { class: 'counts' },
        cell('ready', 'ready'),
        cell('warming', 'warming'),
        cell('busy', 'busy'),
        cell('fallback', 'fallback'),
      ),
      svg,
    );
  }

  /** The span the time charts show: since the first sample, at least a minute, at most `windowMs`. */
  function span(now) {
    const first = history.length > 0 ? history[0].t : now;
    return Math.min(windowMs, Math.max(60_000, now - first));
  }

  /** Axes and grid for a time chart; returns the scales. */
  function timeFrame(svg, now, yMax, tz, size) {
    const { width, height, left, bottom, top } = size;
    const shown = span(now);
    const x = (t) => left + ((t - (now - shown)) / shown) * (width - left - 8);
    const y = (v) => height - bottom - (v / yMax) * (height - bottom - top);
    const step = yMax <= 6 ? 1 : yMax <= 12 ? 2 : yMax <= 30 ? 5 : Math.ceil(yMax / 6 / 5) * 5;
    for (let v = 0; v <= yMax; v += step) {
      svg.append(
        s('line', { x1: left, x2: width - 8, y1: y(v), y2: y(v), stroke: '#1f2a3c', 'stroke-width': 1 }),
      );
      svg.append(s('text', { x: left - 6, y: y(v) + 3, 'text-anchor': 'end' }, String(v)));
    }
    for (let i = 0; i <= 4; i++) {
      const t = now - shown + (i * shown) / 4;
      const anchor = i === 0 ? 'start' : i === 4 ? 'end' : 'middle';
      svg.append(
        s('text', { x: x(t), y: height - 4, 'text-anchor': anchor }, formatter('time', tz).format(t)),
      );
    }
    return { x, y };
  }

  function drawPoolChart(svg, name, state) {
    svg.replaceChildren();
    const now = state.now;
    const samples = history
      .filter((h) => h.t >= now - span(now) && h.pools[name])
      .map((h) => ({ t: h.t, ...h.pools[name] }));
    const size = { width: 560, height: 150, left: 26, bottom: 18, top: 8 };
    const peak = Math.max(
      4,
      ...samples.map((p) => Math.max(p.target, p.ready + p.warming + p.busy + p.fallback)),
    );
    const yMax = Math.ceil(peak * 1.15);
    const { x, y } = timeFrame(svg, now, yMax, state.sandbox.timeZone, size);
    if (samples.length < 2) {
      svg.append(
        s('text', { x: 280, y: 70, 'text-anchor': 'middle', class: 'empty' }, 'collecting samples…'),
      );
      return;
    }
    let below = samples.map(() => 0);
    for (const [key, color] of layers) {
      const above = samples.map((p, i) => below[i] + p[key]);
      const top = samples.map((p, i) => `${x(p.t).toFixed(1)},${y(above[i]).toFixed(1)}`);
      const bottom = samples.map((p, i) => `${x(p.t).toFixed(1)},${y(below[i]).toFixed(1)}`).reverse();
      svg.append(s('polygon', { points: [...top, ...bottom].join(' '), fill: color, 'fill-opacity': 0.72 }));
      below = above;
    }
    // The target is a step function: the tuner converges to it, it does not glide.
    let d = '';
    samples.forEach((p, i) => {
      const px = x(p.t).toFixed(1);
      const py = y(p.target).toFixed(1);
      d += i === 0 ? `M${px},${py}` : `H${px}V${py}`;
    });
    svg.append(
      s('path', { d, fill: 'none', stroke: '#e6eaf2', 'stroke-width': 1.5, 'stroke-dasharray': '5 4' }),
    );
  }

  function renderHistogram(state) {
    const svg = $('histogram');
    svg.replaceChildren();
    const { boundsSeconds, counts } = state.latency.histogram;
    const labels = boundsSeconds.map((b, i) => (i === 0 ? `<${b}s` : `${boundsSeconds[i - 1]}–${b}s`));
    labels.push(`≥${boundsSeconds[boundsSeconds.length - 1]}s`);
    const totals = labels.map((_, i) => sources.reduce((sum, src) => sum + (counts[src]?.[i] || 0), 0));
    const width = 560;
    const height = 200;
    const left = 30;
    const bottom = 22;
    const top = 8;
    const yMax = Math.max(4, Math.ceil(Math.max(...totals) * 1.1));
    const y = (v) => height - bottom - (v / yMax) * (height - bottom - top);
    const step = yMax <= 8 ? 1 : yMax <= 20 ? 5 : yMax <= 60 ? 10 : Math.ceil(yMax / 6 / 10) * 10;
    for (let v = 0; v <= yMax; v += step) {
      svg.append(s('line', { x1: left, x2: width, y1: y(v), y2: y(v), stroke: '#1f2a3c' }));
      svg.append(s('text', { x: left - 6, y: y(v) + 3, 'text-anchor': 'end' }, String(v)));
    }
    const slot = (width - left) / labels.length;
    labels.forEach((label, i) => {
      let base = 0;
      for (const src of sources) {
        const n = counts[src]?.[i] || 0;
        if (n === 0) continue;
        const rect = s('rect', {
          x: left + i * slot + 5,
          y: y(base + n),
          width: slot - 10,
          height: Math.max(0, y(base) - y(base + n)),
          fill: sourceColor[src],
          rx: 2,
        });
        rect.append(s('title', {}, `${label}: ${n} from ${sourceLabel[src]}`));
        svg.append(rect);
        base += n;
      }
      if (totals[i] > 0)
        svg.append(
          s(
            'text',
            { x: left + i * slot + slot / 2, y: y(totals[i]) - 3, 'text-anchor': 'middle' },
            String(totals[i]),
          ),
        );
      svg.append(s('text', { x: left + i * slot + slot / 2, y: height - 6, 'text-anchor': 'middle' }, label));
    });
    if (totals.every((n) => n === 0))
      svg.append(
        s(
          'text',
          { x: (width + left) / 2, y: height / 2 - 10, 'text-anchor': 'middle', class: 'empty' },
          'no job has started yet',
        ),
      );
    const legend = $('histogram-legend');
    if (legend.childElementCount === 0)
      for (const src of sources)
        legend.append(h('span', { class: `swatch src-${src}` }), h('span', {}, sourceLabel[src]));
  }

  function renderPhases(state) {
    const body = $('phases');
    body.replaceChildren(
      ...phases.map(([key, label, span]) => {
        const p = state.latency.phases[key] || { count: 0 };
        const swatch = barPhases.includes(key) ? h('span', { class: `swatch phase-${key}` }) : '';
        return h(
          'tr',
          { 'data-phase': key },
          h('td', {}, swatch, label),
          h('td', { class: 'muted' }, span),
          h('td', { class: 'num' }, ms(p.p50)),
          h('td', { class: 'num' }, ms(p.p95)),
          h('td', { class: 'num' }, p.count),
        );
      }),
    );
  }

  function renderSources(state) {
    const container = $('sources');
    const total = sources.reduce((sum, src) => sum + (state.runnerSources[src] || 0), 0);
    container.replaceChildren(
      ...sources.map((src) => {
        const n = state.runnerSources[src] || 0;
        const fill = h('div', { class: `bar-fill src-${src}` });
        fill.style.width = total === 0 ? '0%' : `${(100 * n) / total}%`;
        return h(
          'div',
          { class: 'bar-row', 'data-source': src },
          h('span', {}, sourceLabel[src]),
          h('div', { class: 'bar-track' }, fill),
          h('span', { class: 'num' }, `${n} · ${percent(n, total)}`),
        );
      }),
    );
  }

  function renderFaults(state) {
    const svg = $('faults-chart');
    svg.replaceChildren();
    const now = state.now;
    const samples = history.filter((p) => p.t >= now - span(now));
    const peak = Math.max(4, ...samples.map((p) => Math.max(p.fallbackJobs, p.capacityErrors)));
    const size = { width: 560, height: 120, left: 26, bottom: 18, top: 6 };
    const { x, y } = timeFrame(svg, now, Math.ceil(peak * 1.15), state.sandbox.timeZone, size);
    if (samples.length >= 2)
      for (const [key, color] of [
        ['fallbackJobs', '#a855f7'],
        ['capacityErrors', '#ef4444'],
      ]) {
        const points = samples.map((p) => `${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ');
        svg.append(s('polyline', { points, fill: 'none', stroke: color, 'stroke-width': 2 }));
      }

    const m = state.metrics;
    const facts = [
      ['Ladder step failures', m.fallbacks.total, 'fallbacks-total'],
      ...Object.entries(m.fallbacks.by).map(([step, n]) => [`  at step ${step}`, n, `fallbacks-${step}`]),
      ['Capacity errors', m.capacityErrors.total, 'capacity-errors'],
      ...Object.entries(m.capacityErrors.by).map(([pool, n]) => [`  in ${pool}`, n, `capacity-${pool}`]),
      ['Webhooks rejected', m.webhooksRejected.total, 'rejected'],
      ...Object.entries(m.webhooksRejected.by).map(([reason, n]) => [
        `  HTTP ${reason}`,
        n,
        `rejected-${reason}`,
      ]),
      ['Webhooks redelivered', m.webhooksRedelivered, 'redelivered'],
      ['Jobs provided again', m.jobsReprovisioned, 'reprovisioned'],
      ['Orphans reaped', m.orphansReaped, 'orphans'],
      [
        'Webhook handling p50 / p95',
        `${ms(m.webhookDuration.p50)} / ${ms(m.webhookDuration.p95)}`,
        'webhook-duration',
      ],
    ];
    $('faults').replaceChildren(
      ...facts.map(([label, value, key]) =>
        h('div', { 'data-fact': key }, h('dt', {}, label), h('dd', {}, value)),
      ),
    );
  }

  /** Today's booked cost per repository (top 10 + other) and per organization; cents sum to the total. */
  function renderAttribution(state) {
    const a = state.attribution;
    if (!a) return;
    const cents = (value) => usd(value / 100);
    $('attribution-day').textContent = `${a.day} · ${cents(a.totalCents)} · ${a.jobs} jobs`;
    $('attribution').replaceChildren(
      ...(a.repositories.length === 0
        ? [h('tr', {}, h('td', { colSpan: 3, class: 'muted' }, 'no job has finished today'))]
        : a.repositories.map((r) =>
            h(
              'tr',
              { 'data-repository': r.repository },
              h('td', {}, r.repository),
              h('td', { class: 'num' }, String(r.jobs)),
              h('td', { class: 'num' }, cents(r.costCents)),
            ),
          )),
    );
    $('attribution-organizations').replaceChildren(
      ...a.organizations.map((o) =>
        h(
          'div',
          { 'data-organization': o.organization },
          h('dt', {}, o.organization),
          h('dd', {}, cents(o.costCents)),
        ),
      ),
      ...a.overhead.map((o) =>
        h(
          'div',
          { 'data-overhead': o.category },
          h('dt', {}, `overhead: ${o.category}`),
          h('dd', {}, usd(o.usd)),
        ),
      ),
    );
  }

  function renderCost(state) {
    const c = state.cost;
    const cell = (label, value, note, key) =>
      h(
        'div',
        { class: 'cost-cell', 'data-cost': key },
        h('span', {}, label),
        h('strong', {}, value),
        h('small', {}, note),
      );
    const covered = ms(c.coveredMs);
    const pools = h(
      'div',
      { class: 'cost-pools' },
      h(
        'table',
        {},
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, 'Pool at target'),
            h('th', { class: 'num' }, 'Waiting stopped / month'),
            h('th', { class: 'num' }, 'Waiting running / month'),
          ),
        ),
        h(
          'tbody',
          {},
          ...c.pools.map((p) =>
            h(
              'tr',
              {},
              h('td', {}, p.name),
              h('td', { class: 'num' }, usd(p.idleMonthlyUsd)),
              h('td', { class: 'num' }, usd(p.runningMonthlyUsd)),
            ),
          ),
        ),
      ),
    );
    $('cost').replaceChildren(
      cell(
        'Total so far',
        usd(c.totalUsd),
        `over ${covered}${c.approximate ? ' (some prices estimated)' : ''}`,
        'total',
      ),
      cell(
        'On-demand compute',
        usd(c.computeUsd.onDemand),
        `${c.instanceHours.onDemand.toFixed(2)} instance-hours`,
        'on-demand',
      ),
      cell(
        'Spot compute',
        usd(c.computeUsd.spot),
        `${c.instanceHours.spot.toFixed(2)} instance-hours`,
        'spot',
      ),
      cell(
        'Idle pool volumes',
        usd(c.ebsIdleUsd),
        `vs ${usd(c.runningPoolEquivalentUsd)} running`,
        'ebs-idle',
      ),
      pools,
    );
  }

  function chip(value, cls) {
    return h('span', { class: `state ${cls || value}` }, value);
  }

  function renderInstances(state) {
    $('instances-count').textContent = `(${state.instances.length})`;
    $('instances').replaceChildren(
      ...state.instances.map((i) =>
        h(
          'tr',
          { 'data-instance': i.id },
          h('td', { class: 'mono' }, i.id),
          h('td', {}, i.pool),
          h('td', {}, chip(i.state)),
          h('td', {}, i.instanceType),
          h('td', {}, i.availabilityZone),
          h('td', {}, (i.role === 'pool' ? 'pool' : i.market) + (i.tier === 'hot' ? ' · hot' : '')),
          h('td', { class: 'mono' }, i.jobId === undefined ? '' : String(i.jobId)),
        ),
      ),
    );
  }

  function renderJobs(state) {
    $('jobs-count').textContent = `(${state.jobTotal})`;
    $('jobs').replaceChildren(
      ...state.jobs.slice(0, 60).map((j) => {
        const total = barPhases.reduce((sum, p) => sum + (j.latency[p] || 0), 0);
        const bar = h('div', { class: 'phasebar' });
        bar.title = barPhases.map((p) => `${p} ${ms(j.latency[p])}`).join(' · ');
        if (total > 0)
          for (const p of barPhases) {
            const part = h('span', { class: `phase-${p}` });
            part.style.width = `${(100 * (j.latency[p] || 0)) / total}%`;
            bar.append(part);
          }
        const state_ = j.conclusion && j.state === 'completed' ? j.conclusion : j.state;
        const cls = j.conclusion === 'success' ? 'completed' : state_;
        return h(
          'tr',
          { 'data-job': String(j.id) },
          h('td', { class: 'mono' }, String(j.id)),
          h('td', {}, j.repository),
          h('td', {}, chip(state_, cls)),
          h(
            'td',
            {},
            j.source ? chip(j.source, `src-${j.source}`) : '',
            j.pickupTier ? chip(j.pickupTier, `tier-${j.pickupTier}`) : '',
          ),
          h('td', { class: 'num' }, ms(j.latency.queuedToRunning)),
          h('td', {}, bar),
        );
      }),
    );
  }

  function setLive(state, text) {
    const pill = $('live');
    pill.dataset.live = state;
    $('live-text').textContent = text;
  }

  async function poll() {
    try {
      const state = await getJson('/api/state');
      remember(sampleOf(state));
      render(state);
      setLive('live', 'live');
    } catch {
      setLive('down', 'disconnected');
    } finally {
      setTimeout(poll, pollMs);
    }
  }

  async function start() {
    try {
      const { samples } = await getJson('/api/history');
      history = samples.slice(-maxSamples);
    } catch {
      history = [];
    }
    await poll();
  }

  start();
})();
