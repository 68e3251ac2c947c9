// `trainmem simulate --html`: every stage's total on one byte axis against the device and the safety budget, each
// stage's peak marked with its event, the selected stage stacked by category, hover/click breakdowns, zoom by
// dragging or buttons, the rank-class bars (the estimate) and the stage table. Data: report_simulate_html.cpp.
(function () {
  'use strict';
  const TM = window.TM;
  TM.simulate = function () {
    const { D, app, el, sv, iec, gib, card, chartBox, width, frame, limitLines, limitMax, legend, dataTable } = TM;
    const cats = D.categories, stages = D.stages;
    const PH = ['setup', 'forward', 'backward', 'optimizer step'];
    const bytesAt = (s, i) => s.series.map((v) => (typeof v === 'number' ? v : v[i]));
    const total = (s, i) => TM.visibleSum(bytesAt(s, i));
    // sim::describe() (sim/engine/event_engine.cpp) of a sample's event, without the stage.
    function describe(s, i) {
      let t = PH[s.ph[i]];
      if (s.mb[i] >= 0) t += ', microbatch ' + s.mb[i];
      if (s.ly[i] >= 0) t += ', layer ' + s.ly[i];
      if (s.ck[i] >= 0) t += ' (chunk ' + s.ck[i] + ')';
      const what = D.whats[s.wh[i]];
      return what ? t + ': ' + what : t;
    }
    const color = (k) => (stages.length === 1 ? '#2c3e50' : 'hsl(' + Math.round((k * 280) / (stages.length - 1)) + ',65%,40%)');
    const xMax = Math.max(1, ...stages.map((s) => s.x[s.x.length - 1]));
    const yMax = limitMax(Math.max(...stages.map((s) => s.peak)));
    const peakIdx = stages.map((s) => s.x.indexOf(s.peak_x));
    const view = { x0: 0, x1: xMax };
    let sel = 0;  // the stage of the breakdown chart
    // The kept sample nearest to event ev.
    function nearest(s, ev) {
      let lo = 0, hi = s.x.length - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (s.x[mid] < ev) lo = mid + 1; else hi = mid; }
      return lo > 0 && ev - s.x[lo - 1] < s.x[lo] - ev ? lo - 1 : lo;
    }
    function inView(s) {  // sample indices inside the zoom, with one neighbour each side
      let a = nearest(s, view.x0), b = nearest(s, view.x1);
      return [Math.max(0, a - 1), Math.min(s.x.length - 1, b + 1)];
    }
    function tipFor(e, k, i) {
      const s = stages[k];
      TM.showTip(e, (t) => {
        el('div', { class: 'head' }, t, s.label + ' (ranks ' + s.ranks + '), event ' + s.x[i]);
        el('div', { class: 'event' }, t, describe(s, i));
        if (i === peakIdx[k]) el('div', {}, t, 'the peak of ' + s.label);
        TM.breakdownTable(bytesAt(s, i), t);
      });
    }

    const worst = stages.reduce((a, s, k) => (s.peak > stages[a].peak ? k : a), 0);
    el('p', { class: 'sub' }, app, D.source + ': one training step replayed per pipeline stage (' + D.schedule + ', ' +
      D.microbatches + ' microbatches). Largest peak ' + iec(stages[worst].peak) + ' on ' + stages[worst].label +
      (D.device ? ' against ' + iec(D.device.bytes) + ' on the ' + D.device.name : '') + '.');
    const top = card('Memory over the step, every stage on one axis');
    const controls = el('div', { class: 'controls' }, top);
    el('span', {}, controls, 'Zoom:');
    const zoom = (f) => () => {
      const c = (view.x0 + view.x1) / 2, half = Math.min(xMax / 2, Math.max(4, ((view.x1 - view.x0) / 2) * f));
      view.x0 = Math.max(0, Math.min(c - half, xMax - 2 * half));
      view.x1 = view.x0 + 2 * half;
      TM.redraw();
    };
    el('button', { type: 'button', id: 'zoom-in' }, controls, '+').addEventListener('click', zoom(0.5));
    el('button', { type: 'button', id: 'zoom-out' }, controls, '−').addEventListener('click', zoom(2));
    el('button', { type: 'button', id: 'zoom-reset' }, controls, 'whole step').addEventListener('click', () => {
      view.x0 = 0; view.x1 = xMax; TM.redraw();
    });
    el('span', {}, controls, 'drag across a chart to zoom; hover for the breakdown at an event, click to pin it');
    legend(top);
    const main = chartBox(top, 'timeline');
    const peaks = el('ul', { class: 'peaks' }, top);
    stages.forEach((s, k) => {
      const li = el('li', { 'data-stage': k }, peaks);
      el('span', { class: 'swatch', style: 'background:' + color(k) }, li);
      li.appendChild(document.createTextNode(s.label + ' (ranks ' + s.ranks + '): peak ' + iec(s.peak) + ' at ' + s.peak_text));
      li.addEventListener('click', () => { sel = k; select.value = k; TM.redraw(); });
    });
    const bottom = card('One stage by category');
    const sc = el('div', { class: 'controls' }, bottom);
    el('label', { for: 'stage-select' }, sc, 'Stage:');
    const select = el('select', { id: 'stage-select' }, sc);
    stages.forEach((s, k) => el('option', { value: k }, select, s.label + ' (peak ' + iec(s.peak) + ')'));
    select.addEventListener('change', () => { sel = +select.value; TM.redraw(); });
    const stack = chartBox(bottom, 'stack');

    // One chart: draw(svg, f) adds the series, pick(ev, py, f) says which (stage, sample) the pointer is on.
    function chart(box, height, draw, pick) {
      function redraw() {
        box.textContent = '';
        const w = width(box);
        const svg = sv('svg', { viewBox: '0 0 ' + w + ' ' + height, width: w, height: height, role: 'img' }, box);
        const f = frame(svg, { w: w, h: height, yMax: yMax, x0: view.x0, x1: view.x1,
          xLabel: 'simulated event (step order: one allocation or free per event)' });
        const clip = box.id + '-clip';
        sv('rect', { x: f.m.l, y: f.m.t, width: f.pw, height: f.ph }, sv('clipPath', { id: clip }, svg));
        draw(sv('g', { 'clip-path': 'url(#' + clip + ')' }, svg), f);
        limitLines(svg, f);
        const cursor = sv('line', { class: 'cursor', y1: f.m.t, y2: f.m.t + f.ph, visibility: 'hidden' }, svg);
        const zbox = sv('rect', { class: 'zoombox', y: f.m.t, height: f.ph, width: 0, visibility: 'hidden' }, svg);
        const local = (e) => {
          const r = svg.getBoundingClientRect();
          return { x: ((e.clientX - r.left) * w) / r.width, y: ((e.clientY - r.top) * height) / r.height };
        };
        const evAt = (px) => view.x0 + ((px - f.m.l) / f.pw) * (view.x1 - view.x0);
        let drag = null;
        svg.addEventListener('mousedown', (e) => { drag = local(e).x; e.preventDefault(); });
        svg.addEventListener('mousemove', (e) => {
          const p = local(e);
          if (drag !== null) {
            zbox.setAttribute('x', Math.min(drag, p.x));
            zbox.setAttribute('width', Math.abs(p.x - drag));
            zbox.setAttribute('visibility', 'visible');
          }
          if (p.x < f.m.l || p.x > f.m.l + f.pw || TM.isPinned()) return;
          const hit = e.target.classList.contains('peak-marker')
            ? { k: +e.target.dataset.stage, i: peakIdx[+e.target.dataset.stage] } : pick(evAt(p.x), p.y, f);
          cursor.setAttribute('x1', f.X(stages[hit.k].x[hit.i]));
          cursor.setAttribute('x2', f.X(stages[hit.k].x[hit.i]));
          cursor.setAttribute('visibility', 'visible');
          tipFor(e, hit.k, hit.i);
        });
        svg.addEventListener('mouseleave', () => { cursor.setAttribute('visibility', 'hidden'); TM.hideTip(); });
        svg.addEventListener('mouseup', (e) => {
          const x = local(e).x, from = drag;
          drag = null;
          zbox.setAttribute('visibility', 'hidden');
          if (from !== null && Math.abs(x - from) > 6) {
            const a = evAt(Math.min(from, x)), b = evAt(Math.max(from, x));
            view.x0 = Math.max(0, a); view.x1 = Math.min(xMax, Math.max(b, view.x0 + 4));
            TM.redraw();
          } else {
            TM.setPinned(!TM.isPinned());
            if (!TM.isPinned()) TM.hideTip();
          }
        });
      }
      TM.redraws.push(redraw);
      redraw();
    }

    chart(main, 360, (g, f) => {
      stages.forEach((s, k) => {
        const [a, b] = inView(s), pts = [];
        for (let i = a; i <= b; i++) pts.push(f.X(s.x[i]).toFixed(1) + ',' + f.Y(total(s, i)).toFixed(1));
        sv('polyline', { points: pts.join(' '), fill: 'none', stroke: color(k), 'stroke-width': k === sel ? 2.2 : 1.3,
          class: 'stage-line', 'data-stage': k }, g);
      });
      stages.forEach((s, k) => {
        const i = peakIdx[k];
        const m = sv('circle', { class: 'peak-marker', 'data-stage': k, cx: f.X(s.peak_x), cy: f.Y(total(s, i)), r: 5,
          fill: color(k) }, g);
        sv('title', {}, m, s.label + ' peak ' + iec(s.peak) + ': ' + s.peak_text);
      });
      const s = stages[worst];
      if (s.peak_x >= view.x0 && s.peak_x <= view.x1)
        sv('text', { class: 'peak-label', x: Math.min(f.X(s.peak_x) + 8, f.m.l + f.pw - 4), y: f.Y(s.peak) - 8,
          'text-anchor': f.X(s.peak_x) > f.m.l + f.pw * 0.6 ? 'end' : 'start' }, g,
          'peak ' + iec(s.peak) + ': ' + s.peak_text);
    }, (ev, py, f) => {
      let best = { k: 0, i: 0, d: Infinity };
      stages.forEach((s, k) => {
        const i = nearest(s, ev), d = Math.abs(f.Y(total(s, i)) - py);
        if (d < best.d) best = { k: k, i: i, d: d };
      });
      return best;
    });

    chart(stack, 300, (g, f) => {
      const s = stages[sel], [a, b] = inView(s), base = [];
      for (let i = a; i <= b; i++) base.push(0);
      cats.forEach((c, ci) => {
        if (TM.hidden.has(ci)) return;
        const v = s.series[ci], top = [], bot = [];
        if (v === 0) return;
        for (let i = a; i <= b; i++) {
          const x = f.X(s.x[i]).toFixed(1), y0 = base[i - a], y1 = y0 + (typeof v === 'number' ? v : v[i]);
          top.push(x + ',' + f.Y(y1).toFixed(1));
          bot.unshift(x + ',' + f.Y(y0).toFixed(1));
          base[i - a] = y1;
        }
        sv('polygon', { points: top.concat(bot).join(' '), fill: c.color, class: 'area', 'data-cat': c.key }, g);
      });
      const m = sv('circle', { class: 'peak-marker', 'data-stage': sel, cx: f.X(s.peak_x), cy: f.Y(total(s, peakIdx[sel])),
        r: 5, fill: '#fff' }, g);
      sv('title', {}, m, s.label + ' peak ' + iec(s.peak) + ': ' + s.peak_text);
    }, (ev) => ({ k: sel, i: nearest(stages[sel], ev) }));

    const est = card('Rank classes (the estimate): peak by category against the device');
    TM.classBars(est);
    const tc = card('Stages');
    dataTable(tc, ['stage', 'ranks', 'live mb'].concat(cats.map((c) => c.title + ' (GiB)'), ['peak (GiB)', 'event at the peak']),
      stages.map((s) => [s.label, s.ranks, '' + s.live].concat(s.at_peak.map(gib), [gib(s.peak), s.peak_text])), [0, 1, 12]);
    TM.textOutput();
  };
})();
