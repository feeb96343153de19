(function () {
  'use strict';
  var el = document.getElementById('tl-data');
  var cv = document.getElementById('tl');
  if (!el || !cv) return;
  var D = JSON.parse(el.textContent);
  var S = D.strings, N = D.s.length, L = D.lanes.length;
  var END = Math.max(D.end, 1);
  var COL = ['#6cc76c', '#f08080', '#f5c542', '#b58ad8'];
  var STATUS = ['ok', 'fail', 'info', 'nemesis'];
  var G = 78, A = 22;
  var laneH = Math.max(4, Math.min(16, Math.floor(620 / Math.max(L, 1))));
  var byLane = [];
  for (var l = 0; l < L; l++) byLane.push([]);
  for (var i = 0; i < N; i++) byLane[D.lane[i]].push(i);
  byLane.forEach(function (a) { a.sort(function (x, y) { return D.s[x] - D.s[y]; }); });
  function endOf(i) { return D.e[i] < 0 ? END : Math.max(D.e[i], D.s[i]); }
  var v0 = 0, v1 = END, sel = -1, W = 0, H = 0, dpr = 1, pending = false;
  var ctx = cv.getContext('2d');
  var tip = document.getElementById('tl-tip');
  var range = document.getElementById('tl-range');

  function resize() {
    dpr = window.devicePixelRatio || 1;
    W = cv.parentNode.clientWidth || 1000;
    H = A + L * laneH + 4;
    cv.style.height = H + 'px';
    cv.width = Math.round(W * dpr);
    cv.height = Math.round(H * dpr);
    redraw();
  }
  function X(t) { return G + (t - v0) / (v1 - v0) * (W - G); }
  function T(x) { return v0 + (x - G) / (W - G) * (v1 - v0); }
  function redraw() {
    if (pending) return;
    pending = true;
    (window.requestAnimationFrame || setTimeout)(draw);
  }
  function lowerBound(ids, t) {
    var lo = 0, hi = ids.length;
    while (lo < hi) { var m = (lo + hi) >> 1; if (D.s[ids[m]] < t) lo = m + 1; else hi = m; }
    return lo;
  }
  function niceStep(span, n) {
    var raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var k = 0; k < steps.length; k++) if (steps[k] * mag >= raw) return steps[k] * mag;
    return 10 * mag;
  }
  function fmtT(us, step) {
    var d = Math.max(0, Math.min(6, Math.ceil(-Math.log10(step / 1e6))));
    return (us / 1e6).toFixed(d) + ' s';
  }
  function draw() {
    pending = false;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    // Lane stripes.
    for (var l = 0; l < L; l++) {
      if (l % 2) { ctx.fillStyle = '#f7f8fa'; ctx.fillRect(G, A + l * laneH, W - G, laneH); }
    }
    // Fault bands across all lanes.
    D.faults.forEach(function (f) {
      var a = X(f[0]), b = X(f[1] < 0 ? END : f[1]);
      if (b < G || a > W) return;
      a = Math.max(a, G);
      ctx.globalAlpha = 0.2; ctx.fillStyle = f[3];
      ctx.fillRect(a, A, Math.max(b - a, 1.5), L * laneH);
      ctx.globalAlpha = 0.9; ctx.fillRect(a, A - 4, Math.max(b - a, 1.5), 4);
      ctx.globalAlpha = 1;
    });
    // Ops.
    var pad = laneH > 6 ? 1.5 : 0.5;
    for (var l2 = 0; l2 < L; l2++) {
      var ids = byLane[l2];
      var k = Math.max(0, lowerBound(ids, v0) - 1);
      var y = A + l2 * laneH + pad, h = laneH - 2 * pad;
      var lastPx = -1, lastC = -1;
      for (; k < ids.length; k++) {
        var i = ids[k], s = D.s[i];
        if (s > v1) break;
        var e = endOf(i);
        if (e < v0) continue;
        var x0 = Math.max(X(s), G), x1 = Math.min(X(e), W), w = x1 - x0;
        var px = Math.floor(x0), c = D.st[i];
        if (c === 3 && w < 3) { w = 3; } else if (w < 1) { if (px === lastPx && c === lastC) continue; w = 1; }
        lastPx = px; lastC = c;
        ctx.fillStyle = COL[c];
        ctx.fillRect(x0, y, w, h);
      }
    }
    if (sel >= 0) {
      var sy = A + D.lane[sel] * laneH;
      var sx0 = X(D.s[sel]), sx1 = X(endOf(sel));
      ctx.strokeStyle = '#000'; ctx.lineWidth = 2;
      ctx.strokeRect(Math.max(sx0, G) - 2, sy - 1, Math.max(sx1 - sx0, 1) + 4, laneH + 2);
      ctx.beginPath(); ctx.moveTo(Math.max(sx0, G), A); ctx.lineTo(Math.max(sx0, G), H); ctx.strokeStyle = 'rgba(0,0,0,.35)'; ctx.lineWidth = 1; ctx.stroke();
    }
    // Axis.
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, A - 4); ctx.fillRect(0, 0, G, H);
    ctx.fillStyle = '#444'; ctx.font = '11px system-ui, sans-serif'; ctx.textBaseline = 'middle';
    var step = niceStep(v1 - v0, Math.max(2, (W - G) / 110));
    for (var t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
      var x = X(t);
      ctx.fillRect(x, A - 8, 1, 4);
      ctx.fillText(fmtT(t, step), x + 3, 8);
    }
    // Lane labels.
    var every = Math.max(1, Math.ceil(11 / laneH));
    ctx.textBaseline = 'middle';
    for (var l3 = 0; l3 < L; l3 += every) {
      ctx.fillStyle = D.lanes[l3] === 'nemesis' ? '#7a4fa8' : '#333';
      var label = /^[0-9]+$/.test(D.lanes[l3]) ? 'p' + D.lanes[l3] : D.lanes[l3];
      ctx.fillText(label.length > 11 ? label.slice(0, 10) + '…' : label, 6, A + l3 * laneH + laneH / 2);
    }
    ctx.fillStyle = '#ccd'; ctx.fillRect(G - 1, A, 1, L * laneH);
    if (range) range.textContent = '· showing ' + fmtT(v0, (v1 - v0) / 100) + ' – ' + fmtT(v1, (v1 - v0) / 100);
  }
  function clampView() {
    var span = Math.max(v1 - v0, 5);
    var lo = -0.05 * END, hi = END * 1.05;
    if (span > hi - lo) { v0 = lo; v1 = hi; return; }
    if (v0 < lo) { v0 = lo; v1 = lo + span; }
    if (v1 > hi) { v1 = hi; v0 = hi - span; }
  }
  function zoom(factor, x) {
    var t = T(x);
    v0 = t - (t - v0) * factor; v1 = t + (v1 - t) * factor;
    clampView(); redraw();
  }
  function fit() { v0 = 0; v1 = END; redraw(); }
  function pick(mx, my) {
    var l = Math.floor((my - A) / laneH);
    if (l < 0 || l >= L || mx < G) return -1;
    var ids = byLane[l], t = T(mx), tol = 3 * (v1 - v0) / (W - G);
    var k = lowerBound(ids, t + tol);
    var best = -1, bestD = Infinity;
    for (var j = Math.max(0, k - 3); j < Math.min(ids.length, k + 2); j++) {
      var i = ids[j], a = D.s[i], b = endOf(i);
      var d = t < a ? a - t : t > b ? t - b : 0;
      if (d <= tol && d < bestD) { best = i; bestD = d; }
    }
    return best;
  }
  function str(k) { return k < 0 ? null : S[k]; }
  function describe(i) {
    var lines = [];
    var st = STATUS[D.st[i]];
    lines.push(S[D.f[i]] + '  [' + st + (D.st[i] === 2 ? ': outcome unknown, open to the end' : '') + ']');
    var who = 'process ' + D.lanes[D.lane[i]];
    if (D.node[i] >= 0) who += ' · node ' + S[D.node[i]];
    if (D.key[i] >= 0) who += ' · key ' + S[D.key[i]];
    lines.push(who);
    var vin = str(D['in'][i]), vout = str(D.out[i]);
    lines.push('value: ' + vin + (vout !== null && vout !== vin ? ' → ' + vout : ''));
    lines.push('invoked at ' + (D.s[i] / 1e6).toFixed(6) + ' s' + (D.e[i] >= 0 ? ' · latency ' + ((D.e[i] - D.s[i]) / 1000).toFixed(3) + ' ms' : ''));
    if (D.err[i] >= 0) lines.push('error: ' + S[D.err[i]]);
    lines.push('history index ' + D.ix[i]);
    return lines.join('\n');
  }
  function faultAt(mx) {
    var t = T(mx), out = [];
    D.faults.forEach(function (f) { if (t >= f[0] && t <= (f[1] < 0 ? END : f[1])) out.push(f[2] + ' ' + f[4] + (f[5] ? ' (until ' + f[5] + ')' : ' (never stopped)')); });
    return out.length ? 'fault window: ' + out.join('; ') : null;
  }
  var drag = null;
  cv.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    var r = cv.getBoundingClientRect(), x = ev.clientX - r.left;
    if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
      var d = (ev.shiftKey ? ev.deltaY : ev.deltaX) || ev.deltaY;
      var dt = d / (W - G) * (v1 - v0);
      v0 += dt; v1 += dt; clampView(); redraw();
    } else {
      zoom(Math.exp(ev.deltaY * 0.0015), Math.max(x, G));
    }
  }, { passive: false });
  cv.addEventListener('mousedown', function (ev) { drag = { x: ev.clientX, v0: v0, v1: v1 }; });
  window.addEventListener('mouseup', function () { drag = null; });
  window.addEventListener('mousemove', function (ev) {
    if (drag) {
      var dt = (ev.clientX - drag.x) / (W - G) * (drag.v1 - drag.v0);
      v0 = drag.v0 - dt; v1 = drag.v1 - dt; clampView(); redraw();
      tip.hidden = true;
    }
  });
  cv.addEventListener('mousemove', function (ev) {
    if (drag) return;
    var r = cv.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
    var i = pick(mx, my), text = i >= 0 ? describe(i) : null;
    var f = faultAt(mx);
    if (f && mx >= G) text = text ? text + '\n' + f : f;
    if (!text) { tip.hidden = true; return; }
    tip.textContent = text;
    tip.hidden = false;
    var tx = ev.clientX + 14, ty = ev.clientY + 14;
    if (tx + tip.offsetWidth > window.innerWidth - 8) tx = ev.clientX - tip.offsetWidth - 14;
    if (ty + tip.offsetHeight > window.innerHeight - 8) ty = ev.clientY - tip.offsetHeight - 14;
    tip.style.left = tx + 'px'; tip.style.top = ty + 'px';
  });
  cv.addEventListener('mouseleave', function () { tip.hidden = true; });
  cv.addEventListener('dblclick', fit);
  document.getElementById('tl-fit').addEventListener('click', fit);
  document.getElementById('tl-in').addEventListener('click', function () { zoom(0.5, (G + W) / 2); });
  document.getElementById('tl-out').addEventListener('click', function () { zoom(2, (G + W) / 2); });
  window.addEventListener('resize', resize);

  var byIx = null;
  function focusOp(ix) {
    if (!byIx) { byIx = new Map(); for (var i = 0; i < N; i++) byIx.set(D.ix[i], i); }
    var j = byIx.get(ix);
    if (j === undefined) return false;
    sel = j;
    var a = D.s[j], b = endOf(j), span = Math.max((b - a) * 12, END / 200, 2000);
    v0 = (a + b) / 2 - span / 2; v1 = v0 + span; clampView();
    document.getElementById('timeline').scrollIntoView({ block: 'start' });
    var wrap = document.getElementById('tl-wrap');
    wrap.scrollTop = Math.max(0, A + D.lane[j] * laneH - wrap.clientHeight / 2);
    redraw();
    return true;
  }
  window.faultlineFocusOp = focusOp;
  function fromHash() {
    var m = /^#op-(\d+)$/.exec(location.hash);
    if (m) focusOp(Number(m[1]));
  }
  document.addEventListener('click', function (ev) {
    var a = ev.target.closest ? ev.target.closest('a[href^="#op-"]') : null;
    if (!a) return;
    var m = /^#op-(\d+)$/.exec(a.getAttribute('href'));
    if (m && focusOp(Number(m[1]))) { ev.preventDefault(); history.replaceState(null, '', '#op-' + m[1]); }
  });
  window.addEventListener('hashchange', fromHash);
  resize();
  fromHash();
})();
