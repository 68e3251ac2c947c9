// trainmem HTML reports, the shared part: draws the charts of `simulate --html`, `estimate --html` and `plan --html` from the
// JSON embedded in the page (#trainmem-data; the C++ writers are in tools/report/). No network, no libraries.
// simulate.js, plan.js and compare.js add their views to window.TM; the page calls TM.main() last.
(function () {
  'use strict';
  const D = JSON.parse(document.getElementById('trainmem-data').textContent);
  const app = document.getElementById('app');
  const tip = document.getElementById('tip');
  const NS = 'http://www.w3.org/2000/svg';
  const cats = D.categories;
  const hidden = new Set();  // indices of the categories toggled off in the legend
  const redraws = [];        // charts to redraw on a legend toggle, a zoom or a resize
  let pinned = false;        // a click pins the tooltip until the next click

  function el(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function sv(tag, attrs, parent, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function iec(b) {  // the same rule as tools/report/format.cpp iec(): the largest unit keeping the number >= 1
    let u = 0;
    while (u < UNITS.length - 1 && b >= Math.pow(1024, u + 1)) u++;
    return u === 0 ? b + ' B' : (b / Math.pow(1024, u)).toFixed(2) + ' ' + UNITS[u];
  }
  function gib(b) { return (b / 1073741824).toFixed(2); }
  // A "nice" step (1, 2 or 5 x 10^k units) giving about n intervals up to max, in an IEC unit for bytes.
  function niceTicks(max, n, bytes) {
    let unit = 1;
    if (bytes) for (let u = 5; u > 0; u--) if (max >= Math.pow(1024, u)) { unit = Math.pow(1024, u); break; }
    const raw = max / unit / n, p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    const m = raw / p, step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p * unit;
    const suffix = bytes ? ' ' + UNITS[Math.round(Math.log(unit) / Math.log(1024))] : '';
    const ticks = [];
    for (let v = 0; v <= max * 1.0001; v += step) ticks.push({ v: v, label: +(v / unit).toPrecision(6) + suffix });
    return ticks;
  }
  function visibleSum(bytes) {
    let s = 0;
    for (let c = 0; c < cats.length; c++) if (!hidden.has(c)) s += bytes[c];
    return s;
  }
  function breakdownTable(bytes, parent) {
    const t = el('table', {}, parent);
    for (let c = 0; c < cats.length; c++) {
      if (hidden.has(c) || bytes[c] === 0) continue;
      const tr = el('tr', {}, t), td = el('td', {}, tr);
      el('span', { class: 'swatch', style: 'background:' + cats[c].color }, td);
      td.appendChild(document.createTextNode(cats[c].title));
      el('td', {}, tr, iec(bytes[c]));
    }
    const tr = el('tr', {}, t);
    el('td', {}, tr, 'total');
    el('td', {}, tr, iec(visibleSum(bytes)));
  }
  function showTip(evt, fill) {
    tip.textContent = '';
    fill(tip);
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    const x = evt.clientX + 14 + w > window.innerWidth ? evt.clientX - w - 14 : evt.clientX + 14;
    const y = Math.min(Math.max(4, evt.clientY + 14), Math.max(4, window.innerHeight - h - 4));
    tip.style.left = Math.max(4, x) + 'px';
    tip.style.top = y + 'px';
  }
  function hideTip() { if (!pinned) tip.hidden = true; }
  function card(title, parent) {
    const s = el('section', { class: 'card' }, parent || app);
    if (title) el('h2', {}, s, title);
    return s;
  }
  function chartBox(parent, id) { return el('div', { class: 'chart', id: id }, parent); }
  function width(box) { return Math.max(480, box.clientWidth || 960); }

  // Axes and gridlines of a chart whose y is bytes; returns the scales. opts: {w, h, yMax, x0, x1, xLabel, xTicks}.
  function frame(svg, o) {
    const m = { l: 70, r: 16, t: 12, b: 34 }, pw = o.w - m.l - m.r, ph = o.h - m.t - m.b;
    const X = (v) => m.l + ((v - o.x0) / (o.x1 - o.x0 || 1)) * pw, Y = (v) => m.t + ph - (v / o.yMax) * ph;
    const g = sv('g', { class: 'y-axis' }, svg);
    for (const t of niceTicks(o.yMax, 6, true)) {
      sv('line', { class: 'grid', x1: m.l, x2: m.l + pw, y1: Y(t.v), y2: Y(t.v) }, g);
      sv('text', { class: 'tick-label', x: m.l - 6, y: Y(t.v) + 4, 'text-anchor': 'end' }, g, t.label);
    }
    const gx = sv('g', { class: 'x-axis' }, svg);
    for (const t of o.xTicks || niceTicks(o.x1 - o.x0, 8, false).map((t) => ({ v: o.x0 + t.v, label: '' + Math.round(o.x0 + t.v) }))) {
      if (t.v < o.x0 || t.v > o.x1) continue;
      sv('line', { class: 'grid', x1: X(t.v), x2: X(t.v), y1: m.t, y2: m.t + ph }, gx);
      sv('text', { class: 'tick-label', x: X(t.v), y: m.t + ph + 14, 'text-anchor': 'middle' }, gx, t.label);
    }
    sv('line', { class: 'axis', x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph }, svg);
    sv('line', { class: 'axis', x1: m.l, x2: m.l, y1: m.t, y2: m.t + ph }, svg);
    sv('text', { x: m.l + pw / 2, y: o.h - 4, 'text-anchor': 'middle' }, svg, o.xLabel);
    return { X: X, Y: Y, m: m, pw: pw, ph: ph };
  }
  // The device capacity and the safety budget as horizontal lines.
  function limitLines(svg, f) {
    const lines = [[D.device, 'device-line', (d) => 'GPU ' + d.name + ': ' + iec(d.bytes)],
                   [D.budget, 'budget-line', (b) => b.label + ': ' + iec(b.bytes)]];
    // The device label at the right end of its line, the budget's at the left end (they are often close).
    lines.forEach(([v, cls, text], k) => {
      if (!v) return;
      const y = f.Y(v.bytes);
      sv('line', { class: cls, x1: f.m.l, x2: f.m.l + f.pw, y1: y, y2: y }, svg);
      sv('text', { class: cls.replace('line', 'label'), x: k === 0 ? f.m.l + f.pw - 4 : f.m.l + 6, y: y - 4,
        'text-anchor': k === 0 ? 'end' : 'start' }, svg, text(v));
    });
  }
  function limitMax(v) { return Math.max(v, D.device ? D.device.bytes : 0, D.budget ? D.budget.bytes : 0) * 1.05 || 1; }

  function legend(parent) {
    const box = el('div', { class: 'legend', role: 'group', 'aria-label': 'categories' }, parent);
    cats.forEach((c, i) => {
      const b = el('button', { type: 'button', 'aria-pressed': 'true', 'data-cat': c.key }, box);
      el('span', { class: 'swatch', style: 'background:' + c.color }, b);
      b.appendChild(document.createTextNode(c.title));
      b.addEventListener('click', () => {
        if (hidden.has(i)) hidden.delete(i); else hidden.add(i);
        b.setAttribute('aria-pressed', hidden.has(i) ? 'false' : 'true');
        redraws.forEach((r) => r());
      });
    });
  }
  function dataTable(parent, head, rows, leftCols) {
    const box = el('div', { class: 'tablebox' }, parent), t = el('table', { class: 'data' }, box);
    const tr = el('tr', {}, el('thead', {}, t));
    head.forEach((h, i) => el('th', { class: leftCols.includes(i) ? 'left' : '' }, tr, h));
    const tb = el('tbody', {}, t);
    for (const r of rows) {
      const row = el('tr', {}, tb);
      r.forEach((v, i) => el('td', { class: leftCols.includes(i) ? 'left' : '' }, row, v));
    }
    return t;
  }

  // The rank classes as stacked horizontal bars by category against the device (the estimate view).
  function classBars(parent) {
    const box = chartBox(parent, 'bars');
    function draw() {
      box.textContent = '';
      const rows = D.classes, bh = 18, gap = 8, w = width(box), h = 46 + rows.length * (bh + gap);
      const svg = sv('svg', { viewBox: '0 0 ' + w + ' ' + h, width: w, height: h, role: 'img' }, box);
      const xMax = limitMax(Math.max(...rows.map((r) => r.peak)));
      const lw = Math.min(260, w * 0.3), m = { l: lw, r: 16, t: 8, b: 34 }, pw = w - m.l - m.r;
      const X = (v) => m.l + (v / xMax) * pw, ph = h - m.t - m.b;
      for (const t of niceTicks(xMax, 8, true)) {
        sv('line', { class: 'grid', x1: X(t.v), x2: X(t.v), y1: m.t, y2: m.t + ph }, svg);
        sv('text', { class: 'tick-label', x: X(t.v), y: m.t + ph + 14, 'text-anchor': 'middle' }, svg, t.label);
      }
      sv('text', { x: m.l + pw / 2, y: h - 4, 'text-anchor': 'middle' }, svg, 'bytes on one GPU (peak of the rank class)');
      rows.forEach((r, i) => {
        const y = m.t + i * (bh + gap) + gap / 2, g = sv('g', { class: 'bar', 'data-class': i }, svg);
        sv('text', { x: m.l - 6, y: y + bh - 5, 'text-anchor': 'end' }, g, r.label.length > 40 ? r.label.slice(0, 39) + '…' : r.label);
        let acc = 0;
        r.bytes.forEach((b, c) => {
          if (hidden.has(c) || b === 0) return;
          sv('rect', { x: X(acc), y: y, width: Math.max(0.5, X(acc + b) - X(acc)), height: bh, fill: cats[c].color }, g);
          acc += b;
        });
        if (r.extra) {
          sv('rect', { x: X(acc), y: y, width: Math.max(0.5, X(acc + r.extra.bytes) - X(acc)), height: bh, fill: '#bab0ac' }, g);
          acc += r.extra.bytes;
        }
        sv('text', { x: X(acc) + 4, y: y + bh - 5 }, g, iec(acc));
        g.addEventListener('mousemove', (e) => showTip(e, (t) => {
          el('div', { class: 'head' }, t, r.label + ', ranks ' + r.ranks);
          if (r.point) el('div', {}, t, 'peak point: ' + r.point);
          breakdownTable(r.bytes, t);
          if (r.extra) el('div', {}, t, 'and ' + r.extra.title + ' ' + iec(r.extra.bytes) + ': peak ' + iec(r.peak));
        }));
        g.addEventListener('mouseleave', hideTip);
      });
      for (const [v, cls, text] of [[D.device, 'device-line', (d) => 'GPU ' + iec(d.bytes)], [D.budget, 'budget-line', (b) => 'budget ' + iec(b.bytes)]]) {
        if (!v) continue;
        sv('line', { class: cls, x1: X(v.bytes), x2: X(v.bytes), y1: m.t, y2: m.t + ph }, svg);
        sv('text', { class: cls.replace('line', 'label'), x: X(v.bytes) - 4, y: m.t + ph - 4, 'text-anchor': 'end' }, svg, text(v));
      }
    }
    redraws.push(draw);
    draw();
  }

  function textOutput(parent) {
    const d = el('details', {}, card('', parent));
    el('summary', {}, d, 'Text output (as the command prints it)');
    el('pre', {}, d, D.text);
  }

  // The helpers simulate.js and plan.js draw with; main() (called last in the page) picks the report's kind.
  window.TM = { D, app, el, sv, iec, gib, niceTicks, visibleSum, breakdownTable, showTip, hideTip, card, chartBox,
    width, frame, limitLines, limitMax, legend, dataTable, classBars, textOutput, hidden, redraws,
    setPinned: (p) => { pinned = p; }, isPinned: () => pinned, redraw: () => redraws.forEach((r) => r()) };
  window.TM.main = function () {
    if (D.kind === 'simulate') window.TM.simulate();
    else if (D.kind === 'plan') window.TM.plan();
    else if (D.kind === 'compare') window.TM.compare();
    else {
      el('p', { class: 'sub' }, app, 'Peak of every rank class by category against the device. Hover a bar for its breakdown.');
      const c = card('Rank classes: peak by category');
      legend(c);
      classBars(c);
      dataTable(c, ['class', 'ranks', 'point'].concat(cats.map((k) => k.title + ' (GiB)'), ['peak (GiB)']),
        D.classes.map((r) => [r.label, r.ranks, r.point].concat(r.bytes.map(gib), [gib(r.peak)])), [0, 1, 2]);
      textOutput();
    }
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => redraws.forEach((r) => r()), 150);
    });
    document.addEventListener('click', (e) => {
      if (pinned && !e.target.closest('svg')) { pinned = false; tip.hidden = true; }
    });
  };
})();
