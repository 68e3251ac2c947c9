// `trainmem compare --measured FILE --html`: the measured allocated and reserved timelines (the snapshot's trace
// replayed) over trainmem's step replay of the same rank class, both peaks marked with their bytes, the peaks side by
// side and the difference by category. Data: the command's --format json (tools/cli/compare_cli.cpp) plus "kind",
// "categories" and "text"; the timelines come from tools/cli/compare_timeline.cpp.
(function () {
  'use strict';
  const TM = window.TM;
  TM.compare = function () {
    const { D, app, el, sv, iec, card, chartBox, width, frame, dataTable } = TM;
    const M = D.measured, P = D.predicted, mt = M.timeline, pt = P.timeline;
    const commas = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    const bytesText = (n) => commas(n) + ' B (' + iec(n) + ')';
    const signed = (n) => (n >= 0 ? '+' : '−') + commas(Math.abs(n)) + ' B';
    const pct = (d) => (d.percent === null ? 'n/a' : (d.percent >= 0 ? '+' : '') + d.percent.toFixed(2) + '%');
    // The series drawn: measured allocated and reserved (a trace), predicted allocated (the step replay).
    const series = [];
    if (mt) {
      series.push({ key: 'measured-allocated', title: 'measured allocated (512 B blocks)', color: '#c0392b', t: mt,
        s: mt.allocated, width: 2 });
      series.push({ key: 'measured-reserved', title: 'measured reserved (segments)', color: '#e67e22', t: mt,
        s: mt.reserved, width: 1.4, dash: '5 3' });
    }
    if (pt) {
      series.push({ key: 'predicted-allocated', title: 'predicted allocated (trainmem, stage ' + pt.stage + ')',
        color: '#2c3e50', t: pt, s: pt.allocated, width: 2 });
    }
    const frac = (t, x) => (x - t.x_first) / (t.x_last - t.x_first || 1);

    const what = M.source === 'snapshot'
      ? 'a PyTorch memory snapshot, device ' + (mt ? mt.device : (M.devices[0] || {}).device) + ' replayed'
      : 'a ground-truth lab result' + (M.name ? ' (' + M.name + ')' : '');
    el('p', { class: 'sub' }, app, 'Measured: ' + M.file + ', ' + what + '. Predicted: ' + P.model +
      (pt ? ', trainmem\'s step replay of stage ' + pt.stage + ' (ranks ' + pt.ranks + '), the fullest rank class,' : ',') +
      ' as allocated bytes (every category but runtime, plus workspaces). Measured peak ' + bytesText(M.peak_bytes) +
      ', predicted ' + bytesText(P.allocated_bytes) + ': ' + signed(D.difference.allocated.bytes) + ' (' +
      pct(D.difference.allocated) + ').');

    const top = card('Allocated and reserved over the step: measured over predicted');
    el('p', { class: 'note', id: 'x-note' }, top, 'x axis: the fraction of the step from its first to its last event, ' +
      'for each series on its own clock' + (mt ? ': the measured series by trace entry (' + commas(mt.x_last) +
      ' entries)' : '') + (pt ? (mt ? ', ' : ': ') + 'the predicted by simulated event (' + commas(pt.x_last - pt.x_first + 1) +
      ' events)' : '') + '. The clocks differ (a trace entry is one allocator call, an event one simulated ' +
      'allocation or free), so compare the shapes and the peaks, not the instants.');
    if (!mt)
      el('p', { class: 'note', id: 'no-trace' }, top, (M.source === 'snapshot'
        ? 'The snapshot has no trace of the device compared (recording was off there)'
        : 'A lab result JSON carries peaks and categories but no trace') +
        ': the measured timeline is absent; the measured peak is the dashed horizontal line.');
    if (!pt)
      el('p', { class: 'note', id: 'no-replay' }, top, 'The step has more microbatches than a kept timeline allows ' +
        '(trainmem simulate\'s limit): the predicted timeline is absent; its peak is the dotted horizontal line.');
    const keys = el('div', { class: 'legend' }, top);
    series.forEach((r) => {
      const k = el('span', { class: 'key', 'data-series': r.key }, keys);
      el('span', { class: 'swatch', style: 'background:' + r.color }, k);
      k.appendChild(document.createTextNode(r.title));
    });
    const box = chartBox(top, 'compare-timeline');
    // A series' sample nearest to the fraction f of the step.
    function nearest(r, f) {
      const xs = r.s.x;
      let lo = 0, hi = xs.length - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (frac(r.t, xs[mid]) < f) lo = mid + 1; else hi = mid; }
      return lo > 0 && f - frac(r.t, xs[lo - 1]) < frac(r.t, xs[lo]) - f ? lo - 1 : lo;
    }
    function peakTip(e, r) {
      TM.showTip(e, (t) => {
        el('div', { class: 'head' }, t, r.title + ': peak');
        el('div', { class: 'peak-value' }, t, bytesText(r.s.peak_bytes));
        el('div', {}, t, r.t.x_unit + ' ' + commas(r.s.peak_x) + ' of ' + commas(r.t.x_last) + ' (' +
          (100 * frac(r.t, r.s.peak_x)).toFixed(1) + '% of the step)');
        if (r.key === 'predicted-allocated' && pt.stage_peak_text) el('div', { class: 'event' }, t, pt.stage_peak_text);
      });
    }
    function draw() {
      box.textContent = '';
      const w = width(box), h = 360;
      const yMax = Math.max(M.peak_bytes, M.reserved_peak_bytes || 0, P.allocated_bytes,
        ...series.map((r) => r.s.peak_bytes)) * 1.12 || 1;
      const svg = sv('svg', { viewBox: '0 0 ' + w + ' ' + h, width: w, height: h, role: 'img' }, box);
      const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => ({ v: v, label: Math.round(v * 100) + '%' }));
      const f = frame(svg, { w: w, h: h, yMax: yMax, x0: 0, x1: 1, xTicks: ticks,
        xLabel: 'fraction of the step, first to last event (each series on its own clock)' });
      series.forEach((r) => {
        const pts = r.s.x.map((x, i) => f.X(frac(r.t, x)).toFixed(1) + ',' + f.Y(r.s.bytes[i]).toFixed(1));
        const a = { points: pts.join(' '), fill: 'none', stroke: r.color, 'stroke-width': r.width, class: 'series',
          'data-series': r.key };
        if (r.dash) a['stroke-dasharray'] = r.dash;
        sv('polyline', a, svg);
      });
      // Peaks without a timeline: horizontal lines.
      const flat = [];
      if (!mt) flat.push(['measured-allocated', 'measured peak ' + commas(M.peak_bytes) + ' B', M.peak_bytes, '#c0392b', '6 3']);
      if (!pt) flat.push(['predicted-allocated', 'predicted peak ' + commas(P.allocated_bytes) + ' B', P.allocated_bytes, '#2c3e50', '2 3']);
      flat.forEach(([key, text, b, color, dash], k) => {
        sv('line', { class: 'peak-line', 'data-series': key, x1: f.m.l, x2: f.m.l + f.pw, y1: f.Y(b), y2: f.Y(b),
          stroke: color, 'stroke-width': 1.5, 'stroke-dasharray': dash }, svg);
        sv('text', { class: 'peak-label', 'data-series': key, x: k === 0 ? f.m.l + f.pw - 4 : f.m.l + 6, y: f.Y(b) - 5,
          'text-anchor': k === 0 ? 'end' : 'start' }, svg, text);
      });
      // The peaks of the drawn series: the measured labels above their point, to its right unless near the right
      // edge; the predicted one below its point, on the side away from the measured peak.
      const peakX = (r) => f.X(frac(r.t, r.s.peak_x));
      const measuredX = mt ? peakX(series[0]) : null;
      series.forEach((r) => {
        const x = peakX(r), y = f.Y(r.s.peak_bytes), below = r.key === 'predicted-allocated';
        const left = below ? (measuredX !== null ? measuredX > x : x > f.m.l + f.pw * 0.6) && x > f.m.l + 200
          : x > f.m.l + f.pw * 0.75;
        const label = (r.key.startsWith('measured') ? 'measured ' + (r.key.endsWith('reserved') ? 'reserved ' : '') :
          'predicted ') + 'peak ' + commas(r.s.peak_bytes) + ' B';
        sv('text', { class: 'peak-label', 'data-series': r.key, x: left ? x - 9 : x + 9, y: below ? y + 20 : y - 8,
          'text-anchor': left ? 'end' : 'start' }, svg, label);
        const m = sv('circle', { class: 'peak-marker', 'data-series': r.key, cx: x, cy: y, r: 5, fill: r.color }, svg);
        sv('title', {}, m, r.title + ' peak ' + bytesText(r.s.peak_bytes));
      });
      const cursor = sv('line', { class: 'cursor', y1: f.m.t, y2: f.m.t + f.ph, visibility: 'hidden' }, svg);
      svg.addEventListener('mousemove', (e) => {
        if (TM.isPinned()) return;
        if (e.target.classList.contains('peak-marker')) {
          peakTip(e, series.find((r) => r.key === e.target.dataset.series));
          return;
        }
        const rect = svg.getBoundingClientRect(), px = ((e.clientX - rect.left) * w) / rect.width;
        if (px < f.m.l || px > f.m.l + f.pw || !series.length) return;
        const at = (px - f.m.l) / f.pw;
        cursor.setAttribute('x1', px);
        cursor.setAttribute('x2', px);
        cursor.setAttribute('visibility', 'visible');
        TM.showTip(e, (t) => {
          el('div', { class: 'head' }, t, (100 * at).toFixed(1) + '% of the step');
          const tb = el('table', {}, t);
          series.forEach((r) => {
            const i = nearest(r, at), tr = el('tr', {}, tb), td = el('td', {}, tr);
            el('span', { class: 'swatch', style: 'background:' + r.color }, td);
            td.appendChild(document.createTextNode(r.title + ' (' + r.t.x_unit + ' ' + commas(r.s.x[i]) + ')'));
            el('td', {}, tr, iec(r.s.bytes[i]));
          });
        });
      });
      svg.addEventListener('mouseleave', () => { cursor.setAttribute('visibility', 'hidden'); TM.hideTip(); });
      svg.addEventListener('click', () => { TM.setPinned(!TM.isPinned()); if (!TM.isPinned()) TM.hideTip(); });
    }
    TM.redraws.push(draw);
    draw();

    // The peaks side by side (bytes exact: the figures the command prints).
    const pc = card('Peaks: predicted - measured');
    const rows = [['allocated (512 B blocks)', commas(M.peak_bytes), commas(P.allocated_bytes),
      signed(D.difference.allocated.bytes), pct(D.difference.allocated)]];
    // Requested bytes (before the 512 B rounding): the lab's unrounded peak, or the replayed device's.
    const dev = mt && M.devices ? M.devices.find((d) => d.device === mt.device) : null;
    const requested = M.peak_bytes_unrounded !== undefined ? M.peak_bytes_unrounded : dev ? dev.allocated_peak_bytes : null;
    if (requested !== null) rows.push(['allocated, requested bytes', commas(requested), '', '', '']);
    if (M.reserved_peak_bytes !== null || P.reserved_bytes !== null)
      rows.push(['reserved', M.reserved_peak_bytes === null ? '—' : commas(M.reserved_peak_bytes),
        P.reserved_bytes === null ? '— (--runtime off)' : commas(P.reserved_bytes),
        D.difference.reserved ? signed(D.difference.reserved.bytes) : '', D.difference.reserved ? pct(D.difference.reserved) : '']);
    dataTable(pc, ['peak', 'measured (B)', 'predicted (B)', 'predicted - measured', '%'], rows, [0]);

    TM.categoryDifference(card('Peak difference by category'));
    TM.textOutput();
  };

  // Measured and predicted bytes by category at the peak as paired bars, and the table; a raw snapshot has no
  // categories (it records allocations, not what they hold): then the predicted ones alone, said so.
  TM.categoryDifference = function (parent) {
    const { D, el, sv, iec, chartBox, width, niceTicks, dataTable } = TM;
    const M = D.measured, P = D.predicted;
    const commas = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    const color = (k) => (D.categories.find((c) => c.key === k) || { color: '#bab0ac' }).color;
    if (!M.categories) {
      el('p', { class: 'note', id: 'no-categories' }, parent, 'A raw snapshot records allocations and segments, not ' +
        'what a tensor holds: it gives only allocated and reserved bytes, no categories. trainmem\'s predicted ' +
        'categories at its peak, for reference (a lab result JSON, tools/groundtruth, has the measured ones):');
      dataTable(parent, ['category', 'predicted (B)'], Object.keys(P.categories).filter((k) => P.categories[k] > 0)
        .map((k) => [k, commas(P.categories[k])]), [0]);
      return;
    }
    const keys = Object.keys(M.categories).concat(Object.keys(P.categories).filter((k) => !(k in M.categories)))
      .filter((k) => (M.categories[k] || 0) > 0 || (P.categories[k] || 0) > 0);
    const box = chartBox(parent, 'category-diff');
    function draw() {
      box.textContent = '';
      const bh = 11, gap = 10, w = width(box), h = 44 + keys.length * (2 * bh + gap);
      const svg = sv('svg', { viewBox: '0 0 ' + w + ' ' + h, width: w, height: h, role: 'img' }, box);
      const xMax = Math.max(1, ...keys.map((k) => Math.max(M.categories[k] || 0, P.categories[k] || 0))) * 1.35;
      const m = { l: 130, r: 16, t: 8, b: 34 }, pw = w - m.l - m.r, ph = h - m.t - m.b, X = (v) => m.l + (v / xMax) * pw;
      for (const t of niceTicks(xMax, 8, true)) {
        sv('line', { class: 'grid', x1: X(t.v), x2: X(t.v), y1: m.t, y2: m.t + ph }, svg);
        sv('text', { class: 'tick-label', x: X(t.v), y: m.t + ph + 14, 'text-anchor': 'middle' }, svg, t.label);
      }
      sv('text', { x: m.l + pw / 2, y: h - 4, 'text-anchor': 'middle' }, svg,
        'bytes at the peak: measured (hatched grey) and predicted (colour), predicted - measured at the right');
      keys.forEach((k, i) => {
        const y = m.t + gap / 2 + i * (2 * bh + gap), g = sv('g', { class: 'cat-bar', 'data-cat': k }, svg);
        const mb = M.categories[k], pb = P.categories[k] || 0, d = D.difference.categories[k];
        sv('text', { x: m.l - 6, y: y + bh + 4, 'text-anchor': 'end' }, g, k);
        sv('rect', { class: 'measured-bar', x: m.l, y: y, width: Math.max(0.5, X(mb || 0) - m.l), height: bh, fill: '#999' }, g);
        sv('rect', { class: 'predicted-bar', x: m.l, y: y + bh, width: Math.max(0.5, X(pb) - m.l), height: bh, fill: color(k) }, g);
        sv('text', { x: X(Math.max(mb || 0, pb)) + 5, y: y + bh + 4 }, g,
          mb === undefined ? 'not measured' : (d.bytes >= 0 ? '+' : '−') + iec(Math.abs(d.bytes)));
        g.addEventListener('mousemove', (e) => TM.showTip(e, (t) => {
          el('div', { class: 'head' }, t, k);
          el('div', {}, t, 'measured ' + (mb === undefined ? '(not measured)' : commas(mb) + ' B'));
          el('div', {}, t, 'predicted ' + commas(pb) + ' B');
          if (d) el('div', {}, t, 'predicted - measured ' + (d.bytes >= 0 ? '+' : '−') + commas(Math.abs(d.bytes)) + ' B');
        }));
        g.addEventListener('mouseleave', TM.hideTip);
      });
    }
    TM.redraws.push(draw);
    draw();
    dataTable(parent, ['category', 'measured (B)', 'predicted (B)', 'predicted - measured (B)'], keys.map((k) => {
      const d = D.difference.categories[k];
      return [k, k in M.categories ? commas(M.categories[k]) : '(not measured)', commas(P.categories[k] || 0),
        d ? (d.bytes >= 0 ? '+' : '−') + commas(Math.abs(d.bytes)) : ''];
    }), [0]);
  };
})();
