// `trainmem plan --html`: the searched layouts as GPUs (log2 axis) against the fullest rank's peak, against the
// device and the plan's budget; colour says whether a layout fits, the chosen layout is ringed; hover shows the
// layout, its peaks and cost, a click shows its reproducing `trainmem estimate` command. Data: plan_html.cpp.
(function () {
  'use strict';
  const TM = window.TM;
  const STATUS = {
    chosen: ['#1a7f37', 'chosen (best of the answer)'],
    answer: ['#2da44e', 'the answer (fits)'],
    fits: ['#8fd19e', 'fits (by estimate)'],
    rejected: ['#e67e22', 'fits by estimate, overflows when replayed'],
    over: ['#cf222e', 'does not fit'],
    bound: ['#8c959f', 'model states alone overflow (a lower bound)'],
  };
  TM.plan = function () {
    const { D, app, el, sv, iec, card, chartBox, width, frame, limitLines, limitMax, dataTable } = TM;
    const pts = D.points;
    const peakOf = (p) => Math.max(p.peak, p.sim_peak || 0);
    const chosen = pts.find((p) => p.status === 'chosen');
    el('p', { class: 'sub' }, app, D.source + ': ' + pts.length + ' layouts of the search. ' +
      (chosen ? 'Chosen: ' + chosen.gpus + ' GPUs, ' + chosen.layout + ', peak ' + iec(peakOf(chosen)) + '.'
              : 'Nothing fits.'));
    const c = card('Searched layouts: GPUs against the fullest rank\'s peak');
    const keys = el('div', { class: 'legend' }, c);
    for (const k in STATUS) {
      if (!pts.some((p) => p.status === k)) continue;
      const s = el('span', {}, keys);
      el('span', { class: 'swatch', style: 'background:' + STATUS[k][0] }, s);
      s.appendChild(document.createTextNode(STATUS[k][1]));
    }
    if (!pts.length) {
      el('p', {}, c, 'No layout was evaluated: see the text output.');
      TM.textOutput();
      return;
    }
    const box = chartBox(c, 'plan');
    const picked = el('div', { id: 'picked' }, c);
    const gpus = pts.map((p) => p.gpus);
    const lo = Math.floor(Math.log2(Math.min(...gpus))), hi = Math.max(lo + 1, Math.ceil(Math.log2(Math.max(...gpus))));
    const lx = (g) => Math.log2(g);
    function show(p) {
      picked.textContent = '';
      el('div', {}, picked, p.gpus + ' GPUs: ' + p.layout + (p.note ? ' (' + p.note + ')' : ''));
      el('pre', { class: 'cmd' }, picked, p.cmd);
    }
    function draw() {
      box.textContent = '';
      const w = width(box), h = 380;
      const svg = sv('svg', { viewBox: '0 0 ' + w + ' ' + h, width: w, height: h, role: 'img' }, box);
      const ticks = [];
      for (let e = lo; e <= hi; e++) ticks.push({ v: e, label: '' + Math.pow(2, e) });
      // Layouts far over the device (a 100B model on one GPU) would flatten the rest: the axis stops at 2.5 x
      // the device and those points sit on its top edge as hollow rings (hover gives their peak).
      const cap = D.device ? 2.5 * D.device.bytes : Infinity, yMax = limitMax(Math.min(cap, Math.max(...pts.map(peakOf))));
      const f = frame(svg, { w: w, h: h, yMax: yMax, x0: lo - 0.3, x1: hi + 0.3,
        xTicks: ticks, xLabel: 'GPUs (world size, log scale)' });
      limitLines(svg, f);
      const order = pts.map((p, i) => i).sort((a, b) => (pts[a].status === 'chosen') - (pts[b].status === 'chosen'));
      for (const i of order) {
        const p = pts[i], jitter = ((i * 37) % 11 - 5) * 0.012;  // spread layouts on the same GPU count
        const off = peakOf(p) > yMax;
        const dot = sv('circle', { class: 'point ' + p.status + (off ? ' off-axis' : ''), 'data-index': i,
          cx: f.X(lx(p.gpus) + jitter), cy: f.Y(Math.min(peakOf(p), yMax)), r: p.status === 'chosen' ? 7 : 4.5,
          fill: STATUS[p.status][0], style: off ? 'fill:#fff;stroke-width:2;stroke:' + STATUS[p.status][0] : '' }, svg);
        dot.addEventListener('mousemove', (e) => TM.showTip(e, (t) => {
          el('div', { class: 'head' }, t, p.gpus + ' GPUs: ' + p.layout);
          el('div', {}, t, STATUS[p.status][1] + (p.note ? ': ' + p.note : ''));
          el('div', {}, t, (off ? 'above the axis: ' : '') + 'peak ' + iec(p.peak) + (p.sim_peak !== null ? ', replayed ' + iec(p.sim_peak) : '') +
            ', cost ' + p.cost.toFixed(3) + ' (relative step time)');
          el('code', {}, t, p.cmd);
        }));
        dot.addEventListener('mouseleave', TM.hideTip);
        dot.addEventListener('click', () => show(p));
      }
    }
    TM.redraws.push(draw);
    draw();
    if (chosen) show(chosen);
    const rows = pts.filter((p) => p.status === 'chosen' || p.status === 'answer');
    if (rows.length) {
      const t = card('The answer, best first');
      dataTable(t, ['GPUs', 'layout', 'peak', 'replayed', 'cost', 'reproduce'],
        rows.map((p) => ['' + p.gpus, p.layout, iec(p.peak), p.sim_peak !== null ? iec(p.sim_peak) : '-',
          p.cost.toFixed(3), p.cmd]), [1, 5]);
    }
    TM.textOutput();
  };
})();
