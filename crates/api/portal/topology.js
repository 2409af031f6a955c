// The topology page: the lab drawn as the server places it (/portal/topology), zoomed and panned
// with the mouse, the buttons or the keyboard; a trace between two VMs drawn on the picture with
// its blockers listed (/portal/trace); the reachability matrix by VNet as an overlay and a table
// (/portal/reach). Uses h(), fill(), call(), show(), table(), errorBox() and sameId() from app.js.
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';
// Up to this many nodes, edges carry their words on the picture (beyond, in their tooltips).
const LABELS_UP_TO = 80;
// Up to this many pairs that reach each other are drawn on the picture.
const REACH_LINES_UP_TO = 5000;
// Up to this many members, the reachability matrix is shown as a table of every pair.
const MATRIX_UP_TO = 60;
// Below this many screen pixels per unit of the picture, its words are not drawn (12px text
// would be under 4px tall).
const FAR_SCALE = 0.33;

// What the page keeps across live refreshes: where the picture is looked at, the trace asked
// for and whether the matrix is shown.
const topo = { view: null, trace: null, reach: null, probe: { protocol: 'Tcp', port: '' } };

function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function bounds(nodes) {
  if (!nodes.length) return { x: 0, y: 0, w: 400, h: 200 };
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const n of nodes) {
    x0 = Math.min(x0, n.x - n.width / 2);
    y0 = Math.min(y0, n.y - n.height / 2);
    x1 = Math.max(x1, n.x + n.width / 2);
    y1 = Math.max(y1, n.y + n.height / 2);
  }
  const pad = 40;
  return { x: x0 - pad, y: y0 - pad, w: x1 - x0 + 2 * pad, h: y1 - y0 + 2 * pad };
}

const STATE_WORDS = { vnet: 'virtual network', gw: 'gateway', site: 'on-premises site', absent: '' };

function nodeLabel(n) {
  return [STATE_WORDS[n.kind], ...n.lines].filter(Boolean).join(', ');
}

// A label line cut to what fits in a box `width` wide (the whole of it is in the tooltip).
function fit(line, width) {
  const room = Math.floor((width - 16) / 7);
  return line.length <= room ? line : `${line.slice(0, Math.max(room - 1, 1))}…`;
}

function drawNode(n) {
  const opens = n.kind === 'vnet';
  const g = s('g', {
    class: `node kind-${n.kind}`,
    transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})`,
    'data-id': n.id.toLowerCase(),
    'data-name': n.lines[0],
    'data-x': n.x,
    'data-y': n.y,
    tabindex: opens ? 0 : null,
    role: opens ? 'link' : 'img',
    'aria-label': opens ? `Open ${nodeLabel(n)}` : nodeLabel(n),
  },
  s('title', {}, [...n.lines, n.id].join('\n')),
  n.kind === 'site'
    ? s('path', { class: 'box', d: `M10,0 H${n.width} L${n.width - 10},${n.height} H0 Z` })
    : s('rect', { class: 'box', width: n.width, height: n.height, rx: n.kind === 'gw' ? 14 : 4 }),
  s('text', { x: n.width / 2, y: 8, 'text-anchor': 'middle' },
    n.lines.map((line, i) => s('tspan', { x: n.width / 2, dy: i === 0 ? 14 : 15, class: i === 0 ? 'title' : null }, fit(line, n.width)))));
  if (opens) {
    const open = () => { location.hash = `#/vnet/${encodeURIComponent(n.id)}`; };
    g.addEventListener('click', (ev) => { if (!g.dataset.dragged) open(); ev.stopPropagation(); });
    g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); open(); } });
  }
  return g;
}

// Lines are coloured by the page's style sheet from their state, so that both light and dark
// colours read well: st-Connected, st-Initiated, st-Disconnected; a gateway connection and a
// gateway's attachment to its VNet have their own.
function drawEdge(e, nodes, withLabels) {
  const a = nodes[e.source];
  const b = nodes[e.target];
  const g = s('g', {
    class: `edge edge-${e.kind}`,
    'data-from': a.lines[0],
    'data-to': b.lines[0],
    'data-states': e.states.join(' / '),
  },
  s('title', {}, e.tooltip));
  if (e.kind === 'peering' && e.states[0] !== e.states[1]) {
    // The two links of a peering disagree: the half at each end in the state of that end's link.
    g.append(s('line', { class: `st-${e.states[0]}` }), s('line', { class: `st-${e.states[1]}` }));
  } else {
    const cls = { peering: `st-${e.states[0]}`, link: `st-${e.states[0]}`, connection: 'conn', attachment: 'attach' }[e.kind];
    g.append(s('line', { class: cls }));
  }
  if (withLabels && e.label.length) {
    g.append(s('text', { 'text-anchor': 'middle', class: 'edge-label' }, e.label.join(' · ')));
  }
  moveEdge(g, e, nodes);
  return g;
}

// Puts an edge's lines (one, or a half at each end) and words between its ends' boxes.
function moveEdge(g, e, nodes) {
  const a = nodes[e.source];
  const b = nodes[e.target];
  const mx = (a.x + b.x) / 2;
  const my = (a.y + b.y) / 2;
  const lines = g.querySelectorAll('line');
  const ends = lines.length === 2 ? [[a.x, a.y, mx, my], [mx, my, b.x, b.y]] : [[a.x, a.y, b.x, b.y]];
  lines.forEach((line, i) => {
    const [x1, y1, x2, y2] = ends[i];
    line.setAttribute('x1', x1);
    line.setAttribute('y1', y1);
    line.setAttribute('x2', x2);
    line.setAttribute('y2', y2);
  });
  const text = g.querySelector('text');
  if (text) {
    text.setAttribute('x', mx);
    text.setAttribute('y', my - 4);
  }
}

function moveNode(g, n) {
  g.setAttribute('transform', `translate(${n.x - n.width / 2},${n.y - n.height / 2})`);
  g.dataset.x = n.x;
  g.dataset.y = n.y;
}

function legend() {
  const item = (cls, text) => h('li', {}, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), text);
  return h('ul', { class: 'legend', 'aria-label': 'Legend' },
    item('sw-connected', 'Connected'), item('sw-initiated', 'Initiated'), item('sw-disconnected', 'Disconnected'),
    item('sw-connection', 'Gateway connection'), item('sw-trace', 'Trace'), item('sw-reach', 'Reaches (overlay)'));
}

// Brings a layer's children in line with `items`, keyed: an element whose signature is unchanged
// is kept as it is (the browser lays out and paints only what changed).
// Brings a layer's children in line with `items`, keyed: an element whose signature is unchanged
// is kept as it is, one whose place alone changed is moved (`move`, when given), any other is
// drawn anew. The browser then lays out and paints only what changed.
function reconcile(layer, items, key, signature, draw, place, move) {
  const old = new Map();
  for (const el of layer.children) old.set(el.dataset.key, el);
  const focused = document.activeElement;
  const seen = new Map();
  const wanted = [];
  for (const [i, item] of items.entries()) {
    // Two items may share a key (two connections between the same gateways): the n-th of them
    // matches the n-th.
    const base = key(item);
    const n = seen.get(base) || 0;
    seen.set(base, n + 1);
    const k = `${base}#${n}`;
    const sig = signature(item);
    const at = place ? place(item) : '';
    let el = old.get(k);
    if (el && el.dataset.sig === sig) {
      if (el.dataset.place !== at) {
        move(el, item);
        el.dataset.place = at;
      }
    } else {
      const was = el;
      el = draw(item, i);
      el.dataset.key = k;
      el.dataset.sig = sig;
      el.dataset.place = at;
      if (was) {
        was.remove();
        if (was === focused) requestAnimationFrame(() => el.focus());
      }
    }
    old.delete(k);
    wanted.push(el);
  }
  for (const el of old.values()) el.remove();
  // Append in order: elements already in place stay where they are.
  let at = layer.firstElementChild;
  for (const el of wanted) {
    if (el === at) at = at.nextElementSibling;
    else layer.insertBefore(el, at);
  }
}

async function renderTopology(refresh) {
  const data = await call('GET', '/portal/topology');
  if (refresh && topo.page && document.contains(topo.page.svg)) {
    await topo.page.update(data);
    return;
  }
  let current = data;
  let full = bounds(data.nodes);
  topo.view = Object.assign({}, full);
  const view = topo.view;
  const edges = s('g', { class: 'edges' });
  const boxes = s('g', { class: 'nodes' });
  // A trace's lines go under the boxes, its marks round them above.
  const overlay = { lines: s('g', { class: 'trace-lines', 'aria-hidden': 'true' }), marks: s('g', { class: 'trace-marks', 'aria-hidden': 'true' }) };
  overlay.clear = () => { overlay.lines.replaceChildren(); overlay.marks.replaceChildren(); };
  const reachLayer = s('g', { class: 'reach-layer', 'aria-hidden': 'true' });
  const svg = s('svg', {
    id: 'topology',
    role: 'group',
    tabindex: 0,
    viewBox: `${view.x} ${view.y} ${view.w} ${view.h}`,
  },
  s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))),
  reachLayer, edges, overlay.lines, boxes, overlay.marks);
  const draw = (d) => {
    const nodes = d.nodes;
    const withLabels = nodes.length <= LABELS_UP_TO;
    svg.setAttribute('aria-label', `Topology: ${nodes.length} nodes and ${d.edges.length} links. Virtual networks open with Enter.`);
    reconcile(boxes, nodes, (n) => n.id.toLowerCase(), (n) => JSON.stringify([n.kind, n.lines, n.width, n.height]), drawNode,
      (n) => `${n.x},${n.y}`, moveNode);
    const a = (e) => nodes[e.source];
    const b = (e) => nodes[e.target];
    reconcile(edges, d.edges, (e) => `${a(e).id}|${b(e).id}|${e.kind}`.toLowerCase(),
      (e) => JSON.stringify([e.states, e.label, e.tooltip, withLabels, a(e).lines[0], b(e).lines[0]]),
      (e) => drawEdge(e, nodes, withLabels),
      (e) => `${a(e).x},${a(e).y},${b(e).x},${b(e).y}`, (g, e) => moveEdge(g, e, nodes));
  };
  draw(data);
  // Level of detail: when labels would be too small to read, they are not drawn at all (a
  // picture of a thousand VNets then paints in a fraction of the time).
  const place = () => {
    svg.setAttribute('viewBox', `${view.x} ${view.y} ${view.w} ${view.h}`);
    const width = svg.clientWidth || 1200;
    svg.classList.toggle('far', width / view.w < FAR_SCALE);
  };
  const zoom = (factor, cx, cy) => {
    const px = cx === undefined ? view.x + view.w / 2 : cx;
    const py = cy === undefined ? view.y + view.h / 2 : cy;
    const w = Math.min(Math.max(view.w * factor, 100), full.w * 20 + 2000);
    const k = w / view.w;
    view.x = px - (px - view.x) * k;
    view.y = py - (py - view.y) * k;
    view.w = w;
    view.h *= k;
    place();
  };
  const pan = (dx, dy) => { view.x += dx * view.w; view.y += dy * view.h; place(); };
  const fit = () => { Object.assign(view, full); place(); };
  svg.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    const scale = Math.max(view.w / r.width, view.h / r.height);
    const cx = view.x + (ev.clientX - r.left - (r.width - view.w / scale) / 2) * scale;
    const cy = view.y + (ev.clientY - r.top - (r.height - view.h / scale) / 2) * scale;
    zoom(ev.deltaY > 0 ? 1.15 : 1 / 1.15, cx, cy);
  }, { passive: false });
  let drag = null;
  svg.addEventListener('pointerdown', (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, moved: false, target: ev.target.closest('.node') };
  });
  svg.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    const scale = Math.max(view.w / r.width, view.h / r.height);
    const dx = ev.clientX - drag.x;
    const dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    svg.classList.add('panning');
    view.x -= dx * scale;
    view.y -= dy * scale;
    drag.x = ev.clientX;
    drag.y = ev.clientY;
    place();
  });
  const endDrag = () => {
    if (drag && drag.moved && drag.target) {
      drag.target.dataset.dragged = '1';
      const t = drag.target;
      setTimeout(() => { delete t.dataset.dragged; }, 0);
    }
    drag = null;
    svg.classList.remove('panning');
  };
  svg.addEventListener('pointerup', endDrag);
  svg.addEventListener('pointerleave', endDrag);
  // A VNet reached with Tab outside the view is brought into it.
  svg.addEventListener('focusin', (ev) => {
    const node = ev.target.closest && ev.target.closest('.node');
    if (!node) return;
    const x = Number(node.dataset.x);
    const y = Number(node.dataset.y);
    if (x < view.x || x > view.x + view.w || y < view.y || y > view.y + view.h) {
      view.x = x - view.w / 2;
      view.y = y - view.h / 2;
      place();
    }
  });
  // The keys work on the picture and on a VNet in it alike (Enter on a VNet opens it).
  svg.addEventListener('keydown', (ev) => {
    const keys = {
      '+': () => zoom(1 / 1.25), '=': () => zoom(1 / 1.25), '-': () => zoom(1.25), '0': fit,
      ArrowLeft: () => pan(-0.1, 0), ArrowRight: () => pan(0.1, 0), ArrowUp: () => pan(0, -0.1), ArrowDown: () => pan(0, 0.1),
    };
    if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
  });

  const from = h('select', { id: 'trace-from', required: true });
  const to = h('select', { id: 'trace-to', required: true });
  const noVms = h('p', { class: 'muted' });
  let vmList = null;
  // The VMs a trace can start from, kept as chosen when the lab changes.
  const fillVms = (d) => {
    const list = JSON.stringify(d.vms.map((vm) => [vm.id, vm.name, d.nodes[vm.node].lines[0]]));
    if (list === vmList) return;
    vmList = list;
    const vms = [...d.vms].sort((a, b) => a.name.localeCompare(b.name));
    const asked = topo.trace || {};
    for (const [select, chosen] of [[from, from.value || asked.source], [to, to.value || asked.destination]]) {
      select.replaceChildren(h('option', { value: '' }, 'Choose a VM'),
        ...vms.map((vm) => h('option', { value: vm.id, selected: chosen && sameId(vm.id, chosen) }, `${vm.name} (${d.nodes[vm.node].lines[0]})`)));
    }
    noVms.textContent = vms.length ? '' : 'The lab has no VM you may read.';
  };
  fillVms(data);
  const protocol = h('select', { id: 'trace-protocol' }, ['Tcp', 'Icmp'].map((p) => h('option', { value: p, selected: p === topo.probe.protocol }, p.toUpperCase())));
  const port = h('input', { id: 'trace-port', type: 'text', inputmode: 'numeric', placeholder: '80', size: 6, value: topo.probe.port });
  const traceOut = h('div', { id: 'trace-result', 'aria-live': 'polite' });
  const reachToggle = h('input', { id: 'reach-toggle', type: 'checkbox', checked: !!topo.reach });
  const reachHint = () => h('p', { class: 'muted' }, 'Tick “Show reachability” to see which VNets reach which (for the protocol and port above).');
  const reachOut = h('div', { id: 'reach-result', 'aria-live': 'polite' }, reachHint());
  const syncPort = () => { port.disabled = protocol.value === 'Icmp'; };
  protocol.addEventListener('change', syncPort);
  syncPort();

  const probe = () => {
    const text = port.value.trim();
    if (protocol.value !== 'Icmp' && text && !(/^\d{1,5}$/.test(text) && Number(text) <= 65535)) {
      throw new Error(`'${text}' is not a port: use a number from 0 to 65535.`);
    }
    return { protocol: protocol.value, port: protocol.value === 'Icmp' || !text ? undefined : Number(text) };
  };
  // The probe, or null after saying in `out` what is wrong with it.
  const checkedProbe = (out) => {
    try {
      return probe();
    } catch (e) {
      out.replaceChildren(h('p', { class: 'invalid', role: 'alert' }, e.message));
      return null;
    }
  };
  const tracing = asker(
    () => call('POST', '/portal/trace',
      Object.assign({ source: topo.trace.source, destination: topo.trace.destination }, topo.trace.probe)),
    (trace) => {
      overlay.clear();
      drawTrace(trace, current.nodes, overlay);
      return () => traceReport(trace);
    },
    traceOut, overlay.clear);
  const askTrace = (fresh) => tracing.ask(fresh);
  const submitTrace = () => {
    if (!from.value || !to.value) {
      traceOut.replaceChildren(h('p', { class: 'invalid', role: 'alert' }, 'Choose the VM to trace from and the VM to trace to.'));
      return;
    }
    const p = checkedProbe(traceOut);
    if (!p) return;
    topo.probe = { protocol: protocol.value, port: port.value.trim() };
    topo.trace = { source: from.value, destination: to.value, probe: p };
    askTrace(true);
  };
  const clearTrace = () => {
    tracing.stop();
    topo.trace = null;
    overlay.clear();
    traceOut.replaceChildren();
  };
  const reaching = asker(
    () => {
      const query = new URLSearchParams({ protocol: topo.reach.protocol });
      if (topo.reach.port !== undefined) query.set('port', topo.reach.port);
      return call('GET', `/portal/reach?${query}`);
    },
    (matrix) => {
      const drawn = drawReach(matrix, current.nodes, reachLayer);
      return () => [...reachTable(matrix),
        ...(drawn ? [] : [h('p', { class: 'muted' }, `More than ${REACH_LINES_UP_TO} pairs reach each other: too many to draw on the picture.`)])];
    },
    reachOut, () => reachLayer.replaceChildren());
  const askReach = (fresh) => reaching.ask(fresh, h('p', { class: 'muted' }, 'Computing who reaches whom…'));
  const toggleReach = () => {
    if (!reachToggle.checked) {
      reaching.stop();
      topo.reach = null;
      reachLayer.replaceChildren();
      reachOut.replaceChildren(reachHint());
      return;
    }
    const p = checkedProbe(reachOut);
    if (!p) {
      reachToggle.checked = false;
      return;
    }
    topo.reach = p;
    askReach(true);
  };
  reachToggle.addEventListener('change', toggleReach);

  const traceForm = h('form', {
    class: 'panel',
    novalidate: true,
    'aria-label': 'Trace between two VMs',
    onsubmit: (ev) => { ev.preventDefault(); submitTrace(); },
  },
  h('h2', {}, 'Trace'),
  h('div', { class: 'inline' },
    h('div', { class: 'field' }, h('label', { for: 'trace-from' }, 'From VM'), from),
    h('div', { class: 'field' }, h('label', { for: 'trace-to' }, 'To VM'), to),
    h('div', { class: 'field' }, h('label', { for: 'trace-protocol' }, 'Protocol'), protocol),
    h('div', { class: 'field' }, h('label', { for: 'trace-port' }, 'Port'), port)),
  h('div', { class: 'toolbar' },
    h('button', { type: 'submit', class: 'primary' }, 'Trace'),
    h('button', { type: 'button', onclick: clearTrace }, 'Clear')),
  noVms,
  traceOut);

  show(
    h('h1', {}, 'Topology'),
    h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Picture' },
      h('button', { type: 'button', onclick: () => zoom(1 / 1.25), 'aria-label': 'Zoom in' }, '+'),
      h('button', { type: 'button', onclick: () => zoom(1.25), 'aria-label': 'Zoom out' }, '−'),
      h('button', { type: 'button', onclick: fit }, 'Fit'),
      h('label', { class: 'check' }, reachToggle, h('span', {}, 'Show reachability')),
      h('span', { class: 'hint' }, 'Drag to pan, wheel or + / − to zoom, arrows to move; Enter on a VNet opens it.')),
    legend(),
    h('div', { class: 'picture' }, svg),
    traceForm,
    h('section', { class: 'panel', 'aria-label': 'Reachability' }, h('h2', {}, 'Reachability'), reachOut));
  place();
  topo.page = {
    svg,
    // A live refresh: the drawing brought up to date in place, the trace and the matrix asked again.
    update: async (d) => {
      current = d;
      full = bounds(d.nodes);
      draw(d);
      fillVms(d);
      await Promise.all([topo.trace ? askTrace(false) : null, topo.reach ? askReach(false) : null]);
    },
  };
  await Promise.all([topo.trace ? askTrace(true) : null, topo.reach ? askReach(true) : null]);
}

// One kind of question the page asks again after each change to the lab (a trace, the matrix),
// always as it was asked, not as the form reads since. An answer overtaken by a later question is
// dropped; an unchanged answer leaves the text (and what screen readers announce) as it is.
// `draw` draws an answer on the picture and returns what makes its text; `clear` wipes the
// picture's part.
function asker(request, draw, out, clear) {
  let run = 0;
  let seen = null;
  return {
    async ask(fresh, pending) {
      const mine = ++run;
      if (fresh) {
        clear();
        out.replaceChildren(...(pending ? [pending] : []));
        seen = null;
      }
      try {
        const answer = await request();
        if (mine !== run) return;
        const text = draw(answer);
        const now = JSON.stringify(answer);
        if (now !== seen) out.replaceChildren(...text());
        seen = now;
      } catch (e) {
        if (mine !== run) return;
        clear();
        out.replaceChildren(errorBox(e));
        seen = null;
      }
    },
    stop() {
      run += 1;
      seen = null;
    },
  };
}

function centreOf(nodes, id) {
  const key = id.toLowerCase();
  return nodes.find((n) => n.id.toLowerCase() === key);
}

// Where the segment from the centre of `a` to the centre of `b` meets the edge of b's box.
function toEdgeOf(a, b) {
  const dx = a.x - b.x;
  const dy = a.y - b.y;
  const t = Math.min(dx ? (b.width / 2 + 6) / Math.abs(dx) : Infinity, dy ? (b.height / 2 + 6) / Math.abs(dy) : Infinity, 1);
  return { x: b.x + dx * t, y: b.y + dy * t };
}

function drawTrace(trace, nodes, overlay) {
  const legs = [['forward', trace.steps.forward, null, -6], ['return', trace.steps.return, '6 4', 6]];
  for (const [leg, steps, dash, offset] of legs) {
    const points = steps.map((step) => ({ step, node: centreOf(nodes, step.id) })).filter((p) => p.node);
    for (let i = 1; i < points.length; i += 1) {
      const a = points[i - 1].node;
      const b = points[i].node;
      const end = toEdgeOf(a, b);
      // Past the place where the packet stops, the path is as it will be once that is fixed.
      const blocked = points[i - 1].step.blocked || points[i].step.assumed;
      overlay.lines.append(s('line', {
        class: `trace-line trace-${leg}${blocked ? ' trace-blocked' : ''}`,
        'data-leg': leg,
        x1: a.x + offset, y1: a.y + offset, x2: end.x + offset, y2: end.y + offset,
        'stroke-dasharray': dash,
        'marker-end': 'url(#arrow)',
      }));
    }
    for (const { step, node } of points) {
      overlay.marks.append(s('rect', {
        class: `trace-mark${step.blocked ? ' trace-blocked' : ''}`,
        'data-leg': leg,
        'data-name': node.lines[0],
        x: node.x - node.width / 2 - 5, y: node.y - node.height / 2 - 5, width: node.width + 10, height: node.height + 10, rx: 8,
      }));
    }
  }
}

function probeWords(protocol, port) {
  return protocol.toLowerCase() === 'icmp' ? 'ICMP' : `${protocol.toUpperCase()} port ${port}`;
}

function traceReport(trace) {
  const verdict = trace.reachable
    ? h('p', { class: 'verdict state-Connected' }, `Reachable: ${probeWords(trace.protocol, trace.port)} from ${trace.source.address} to ${trace.destination.address}, and back.`)
    : h('p', { class: 'verdict state-Disconnected' }, `Not reachable: ${trace.blockers.length} blocker${trace.blockers.length === 1 ? '' : 's'}.`);
  const hops = (list) => h('ol', { class: 'hops' }, list.map((hop) => h('li', { class: hop.blocked ? 'state-Disconnected' : hop.assumed ? 'muted' : null },
    h('span', { class: 'hop-kind' }, hop.kind), ' ', hop.detail, hop.blocked ? ' — blocked here' : '', hop.assumed ? ' (once the blocker above is fixed)' : '')));
  const blockers = trace.blockers.map((b) => h('li', {},
    h('strong', {}, b.problem), b.leg === 'return' ? ' (on the way back)' : '',
    h('div', { class: 'fix' }, 'Fix: ', h('code', {}, b.fix))));
  return [verdict,
    trace.blockers.length ? [h('h3', {}, 'Blockers'), h('ul', { class: 'blockers', 'aria-label': 'Blockers' }, blockers)] : null,
    h('h3', {}, 'Path'), hops(trace.forward),
    trace.return.length ? [h('h3', {}, 'The way back'), hops(trace.return)] : null].flat().filter(Boolean);
}

// Draws a line for each pair that reaches each other (an arrow for one way); false, with nothing
// drawn, when there are more pairs than a picture can show.
function drawReach(matrix, nodes, layer) {
  const members = matrix.members.map((m) => centreOf(nodes, m.id));
  const lines = [];
  for (let i = 0; i < members.length; i += 1) {
    for (let j = i + 1; j < members.length; j += 1) {
      const there = matrix.reaches[i][j];
      const back = matrix.reaches[j][i];
      if (!(there || back) || !members[i] || !members[j]) continue;
      if (lines.length >= REACH_LINES_UP_TO) return false;
      const [a, b] = there ? [members[i], members[j]] : [members[j], members[i]];
      lines.push(s('line', {
        class: `reach-line${there && back ? '' : ' one-way'}`,
        'data-from': a.lines[0], 'data-to': b.lines[0],
        x1: a.x, y1: a.y, x2: b.x, y2: b.y,
        'marker-end': there && back ? null : 'url(#arrow)',
      }));
    }
  }
  layer.replaceChildren(...lines);
  return true;
}

function reachTable(matrix) {
  const names = matrix.members.map((m) => m.name);
  const probe = probeWords(matrix.protocol, matrix.port);
  if (names.length > MATRIX_UP_TO) {
    // Too many cells to read: each member's counts instead; the pairs are on the picture.
    const rows = matrix.members.map((m, i) => {
      const reaches = matrix.reaches[i].filter((yes, j) => yes && j !== i).length;
      const reached = matrix.reaches.filter((row, j) => row[i] && j !== i).length;
      return h('tr', {}, h('th', { scope: 'row' }, m.name), h('td', {}, String(reaches)), h('td', {}, String(reached)));
    });
    return [h('p', { class: 'muted' }, `${names.length} members: too many for a matrix here, so each one's counts (${probe}, and the answer comes back). The pairs are drawn on the picture.`),
      h('div', { class: 'scroll' }, table(['Member', 'Reaches', 'Reached by'], rows, 'Reachability by member'))];
  }
  const rows = matrix.members.map((m, i) => h('tr', {},
    h('th', { scope: 'row' }, m.name),
    matrix.reaches[i].map((yes, j) => h('td', { class: i === j ? 'muted' : yes ? 'state-Connected' : 'state-Disconnected', title: `${m.name} → ${names[j]}` }, i === j ? '—' : yes ? '✓' : '✗'))));
  return [h('p', { class: 'muted' }, `Rows reach columns (${probe}, and the answer comes back).`),
    h('div', { class: 'scroll' }, h('table', { class: 'matrix', 'aria-label': 'Reachability matrix' },
      h('thead', {}, h('tr', {}, h('td', {}), names.map((n) => h('th', { scope: 'col' }, n)))),
      h('tbody', {}, rows)))];
}
