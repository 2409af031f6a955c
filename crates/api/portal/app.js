// The vnetlab portal: virtual networks and their peerings, over the same ARM API az uses. Plain
// JavaScript, no framework; elements are built with textContent (never innerHTML), so names
// from the lab cannot inject markup.
'use strict';

const NETWORK_API = '2024-05-01';
const SUBSCRIPTIONS_API = '2022-12-01';
const MANAGEMENT = 'https://management.core.windows.net/';

let token = sessionStorage.getItem('vnetlab.token');
let formOpen = false;
let events = null;

const main = document.getElementById('main');
const statusLine = document.getElementById('status');

// ---- elements ----------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

// Sets an element's attributes (`on…` ones become listeners) and appends its children, text as
// text nodes. For HTML elements (h) and SVG ones (s, in topology.js) alike.
function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A live refresh under way: what it builds is not shown over a form opened meanwhile (the
// Delete dialog can open while the refresh waits for the server).
let refreshRunning = false;

function show(...children) {
  if (refreshRunning && formOpen) return;
  showForm(...children);
}

// Shows a page whatever is under way: for the Add form, opened by navigating to it.
function showForm(...children) {
  main.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function table(headers, rows, label) {
  return h('table', { 'aria-label': label },
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'None.'))));
}

function errorBox(e) {
  return h('div', { class: 'error', role: 'alert' }, describe(e));
}

function describe(e) {
  if (e && e.code) return `(${e.code}) ${e.message}`;
  return String(e && e.message ? e.message : e);
}

// ---- the API -----------------------------------------------------------------------------------

class ArmError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function arm(method, path, body, query) {
  const sep = path.includes('?') ? '&' : '?';
  const version = path.startsWith('/subscriptions?') || /^\/subscriptions\/[^/]+$/.test(path) ? SUBSCRIPTIONS_API : NETWORK_API;
  const url = path.includes('api-version=') ? path : `${path}${sep}api-version=${version}${query || ''}`;
  return call(method, url, body);
}

// A call to this server with the signed-in token: the JSON answer, or an ArmError with the
// error envelope's code and message.
async function call(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: Object.assign({ Authorization: `Bearer ${token}` }, body ? { 'Content-Type': 'application/json' } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (response.status === 401) {
    signOut();
  }
  if (!response.ok) {
    const err = (data && data.error) || {};
    throw new ArmError(response.status, err.code || `HTTP${response.status}`, err.message || text || `The server answered ${response.status}.`);
  }
  return data;
}

// Every page of a list.
async function list(path) {
  let page = await arm('GET', path);
  const items = [...(page.value || [])];
  while (page.nextLink) {
    const next = new URL(page.nextLink);
    page = await arm('GET', next.pathname + next.search);
    items.push(...(page.value || []));
  }
  return items;
}

function parts(id) {
  const s = id.split('/');
  return { subscription: s[2], group: s[4], name: s[s.length - 1] };
}

function sameId(a, b) {
  return String(a).toLowerCase() === String(b).toLowerCase();
}

// ---- signing in --------------------------------------------------------------------------------

function claims(t) {
  try {
    return JSON.parse(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch (_) {
    return {};
  }
}

function setToken(t) {
  token = t;
  sessionStorage.setItem('vnetlab.token', t);
  const c = claims(t);
  document.getElementById('who').textContent = `${c.upn || c.name || c.appid || c.oid} · tenant ${c.tid}`;
  listen();
}

function signOut() {
  token = null;
  sessionStorage.removeItem('vnetlab.token');
  if (events) events.close();
  events = null;
}

async function managedIdentity() {
  const r = await fetch(`/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(MANAGEMENT)}`);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error_description || 'The lab has no managed identity.');
  setToken(data.access_token);
}

async function ensureSignedIn() {
  if (token) {
    setToken(token);
    return true;
  }
  const session = await (await fetch('/portal/session')).json();
  if (session.principals <= 1) {
    await managedIdentity();
    return true;
  }
  renderSignIn(session);
  return false;
}

function renderSignIn(session) {
  const tenant = h('input', { type: 'text', id: 'signin-tenant', value: session.tenant, required: true });
  const name = h('input', { type: 'text', id: 'signin-name', required: true, autocomplete: 'username' });
  const secret = h('input', { type: 'password', id: 'signin-secret', required: true, autocomplete: 'current-password' });
  const failure = h('div', {});
  const form = h('form', {
    class: 'blade',
    onsubmit: async (ev) => {
      ev.preventDefault();
      failure.replaceChildren();
      const user = name.value.includes('@');
      const body = new URLSearchParams(user
        ? { grant_type: 'password', client_id: 'vnetlab-portal', username: name.value, password: secret.value, scope: `${MANAGEMENT}/.default` }
        : { grant_type: 'client_credentials', client_id: name.value, client_secret: secret.value, scope: `${MANAGEMENT}/.default` });
      const r = await fetch(`/${encodeURIComponent(tenant.value)}/oauth2/v2.0/token`, { method: 'POST', body });
      const data = await r.json();
      if (!r.ok) {
        failure.replaceChildren(h('div', { class: 'error', role: 'alert' }, data.error_description || data.error));
        return;
      }
      setToken(data.access_token);
      route();
    },
  },
  h('h1', {}, 'Sign in'),
  h('p', { class: 'muted' }, 'As a service principal (application id and secret) or a user (name@domain and password) of the lab.'),
  h('div', { class: 'field' }, h('label', { for: 'signin-tenant' }, 'Tenant'), tenant),
  h('div', { class: 'field' }, h('label', { for: 'signin-name' }, 'Application id or user name'), name),
  h('div', { class: 'field' }, h('label', { for: 'signin-secret' }, 'Secret or password'), secret),
  failure,
  h('div', { class: 'toolbar' },
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    h('button', { type: 'button', onclick: async () => { await managedIdentity(); route(); } }, "Use the lab's managed identity")));
  show(form);
  name.focus();
}

// ---- live updates ------------------------------------------------------------------------------

let refreshTimer = null;

function listen() {
  if (events || !token || typeof EventSource === 'undefined') return;
  events = new EventSource(`/portal/events?access_token=${encodeURIComponent(token)}`);
  let first = true;
  events.addEventListener('revision', (ev) => {
    statusLine.textContent = `revision ${ev.data}`;
    document.body.dataset.revision = ev.data;
    document.body.dataset.revisionSeen = String(Date.now());
    if (first) {
      first = false;
      return;
    }
    if (formOpen) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 10);
  });
}

// One live refresh at a time: a change that comes during one is followed by one more, so that
// an older answer never lands after a newer one.
let refreshing = false;
let refreshAgain = false;

async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      await route(true);
    } while (refreshAgain && !formOpen);
  } finally {
    refreshing = false;
  }
}

// ---- pages -------------------------------------------------------------------------------------

async function subscriptions() {
  return list(`/subscriptions?api-version=${SUBSCRIPTIONS_API}`);
}

function vnetLink(id, text) {
  return h('a', { href: `#/vnet/${encodeURIComponent(id)}` }, text || parts(id).name);
}

function vnetRow(vnet) {
  return h('tr', {},
    h('td', {}, vnetLink(vnet.id, vnet.name)),
    h('td', {}, vnet.resourceGroup),
    h('td', {}, vnet.location),
    h('td', {}, vnet.addressPrefixes.join(', ')),
    h('td', {}, vnet.subscription || parts(vnet.id).subscription),
    h('td', {}, String(vnet.peerings)));
}

async function renderVnets(refresh) {
  // One row per VNet, as the Azure portal's browse blade reads them (from Resource Graph there).
  const vnets = (await call('GET', '/portal/vnets')).value;
  vnets.sort((a, b) => a.name.localeCompare(b.name));
  const body = document.getElementById('vnet-rows');
  if (refresh && body && vnets.length) {
    // A live refresh changes only the rows that changed.
    reconcile(body, vnets, (v) => v.id.toLowerCase(), (v) => JSON.stringify(v), vnetRow);
    return;
  }
  const list = table(['Name', 'Resource group', 'Location', 'Address space', 'Subscription', 'Peerings'], [], 'Virtual networks');
  if (vnets.length) {
    list.tBodies[0].id = 'vnet-rows';
    list.tBodies[0].replaceChildren();
    reconcile(list.tBodies[0], vnets, (v) => v.id.toLowerCase(), (v) => JSON.stringify(v), vnetRow);
  }
  show(h('h1', {}, 'Virtual networks'), list);
}

const SYNC = {
  FullyInSync: 'Fully Synchronized',
  RemoteNotInSync: 'Remote sync required',
  LocalNotInSync: 'Local sync required',
  LocalAndRemoteNotInSync: 'Local and remote sync required',
};

async function gatewaysOf(subscriptionId) {
  try {
    return await list(`/subscriptions/${subscriptionId}/providers/Microsoft.Network/virtualNetworkGateways`);
  } catch (_) {
    return [];
  }
}

function hasGateway(gateways, vnetId) {
  const prefix = `${vnetId}/subnets/`.toLowerCase();
  return gateways.some((g) => (g.properties.ipConfigurations || []).some((c) => c.properties.subnet && c.properties.subnet.id.toLowerCase().startsWith(prefix)));
}

async function renderVnet(id, notice) {
  const vnet = await arm('GET', id);
  const sub = parts(id).subscription;
  const [nics, gateways] = await Promise.all([
    list(`/subscriptions/${sub}/providers/Microsoft.Network/networkInterfaces`).catch(() => []),
    gatewaysOf(sub),
  ]);
  const p = vnet.properties;
  const prefix = `${id}/subnets/`.toLowerCase();
  const devices = [];
  for (const nic of nics) {
    for (const c of nic.properties.ipConfigurations || []) {
      const subnet = c.properties.subnet && c.properties.subnet.id;
      if (subnet && subnet.toLowerCase().startsWith(prefix)) {
        const vm = nic.properties.virtualMachine ? parts(nic.properties.virtualMachine.id).name : '';
        devices.push(h('tr', {},
          h('td', {}, h('a', { href: `#/nic/${encodeURIComponent(nic.id)}` }, nic.name)),
          h('td', {}, c.properties.privateIPAddress || ''), h('td', {}, parts(subnet).name), h('td', {}, vm)));
      }
    }
  }
  const subnets = (p.subnets || []).map((s) => h('tr', {},
    h('td', {}, s.name),
    h('td', {}, s.properties.addressPrefix || (s.properties.addressPrefixes || []).join(', ')),
    h('td', {}, s.properties.networkSecurityGroup ? parts(s.properties.networkSecurityGroup.id).name : ''),
    h('td', {}, s.properties.routeTable ? parts(s.properties.routeTable.id).name : '')));
  const peerings = (p.virtualNetworkPeerings || []).map((link) => peeringRow(vnet, link));
  show(
    h('p', {}, h('a', { href: '#/vnets' }, 'Virtual networks'), ' › ', vnet.name),
    h('h1', {}, vnet.name),
    h('p', { class: 'muted' }, `${vnet.location} · ${parts(id).group} · address space ${(p.addressSpace.addressPrefixes || []).join(', ')}${hasGateway(gateways, id) ? ' · has a virtual network gateway' : ''}`),
    notice ? errorBox(notice) : null,
    h('h2', { id: 'peerings' }, 'Peerings'),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', class: 'primary', onclick: () => { location.hash = `#/vnet/${encodeURIComponent(id)}/add-peering`; } }, '+ Add'),
      h('button', { type: 'button', onclick: () => route(true) }, 'Refresh')),
    table(['Name', 'Peering status', 'Peering sync status', 'Peer', 'Gateway transit', ''], peerings, 'Peerings'),
    h('div', { id: 'peering-action' }),
    h('h2', {}, 'Subnets'),
    table(['Name', 'Address range', 'Network security group', 'Route table'], subnets, 'Subnets'),
    h('h2', {}, 'Connected devices'),
    table(['Network interface', 'IP address', 'Subnet', 'Virtual machine'], devices, 'Connected devices'));
}

function peeringRow(vnet, link) {
  const q = link.properties;
  const remote = q.remoteVirtualNetwork.id;
  const transit = q.allowGatewayTransit ? 'Enabled' : q.useRemoteGateways ? 'Uses remote gateway' : 'Disabled';
  const sync = h('button', {
    type: 'button',
    disabled: q.peeringSyncLevel === 'FullyInSync',
    'aria-label': `Sync ${link.name}`,
    onclick: () => syncPeering(vnet, link),
  }, 'Sync');
  const del = h('button', { type: 'button', 'aria-label': `Delete ${link.name}`, onclick: () => confirmDelete(vnet, link) }, 'Delete');
  return h('tr', { 'data-peering': link.name },
    h('td', {}, link.name),
    h('td', { class: `state-${q.peeringState}` }, q.peeringState),
    h('td', {}, SYNC[q.peeringSyncLevel] || q.peeringSyncLevel || ''),
    h('td', {}, vnetLink(remote)),
    h('td', {}, transit),
    h('td', {}, h('div', { class: 'toolbar' }, sync, del)));
}

function peeringBody(q) {
  const body = { properties: {
    remoteVirtualNetwork: { id: q.remoteVirtualNetwork.id },
    allowVirtualNetworkAccess: !!q.allowVirtualNetworkAccess,
    allowForwardedTraffic: !!q.allowForwardedTraffic,
    allowGatewayTransit: !!q.allowGatewayTransit,
    useRemoteGateways: !!q.useRemoteGateways,
  } };
  return body;
}

async function syncPeering(vnet, link) {
  try {
    await arm('PUT', `${vnet.id}/virtualNetworkPeerings/${encodeURIComponent(link.name)}`, peeringBody(link.properties), '&syncRemoteAddressSpace=true');
    await renderVnet(vnet.id);
  } catch (e) {
    await renderVnet(vnet.id, e);
  }
}

async function remoteLinkBack(vnet, link) {
  try {
    const remote = await arm('GET', link.properties.remoteVirtualNetwork.id);
    return (remote.properties.virtualNetworkPeerings || []).find((l) => sameId(l.properties.remoteVirtualNetwork.id, vnet.id)) || null;
  } catch (_) {
    return null;
  }
}

async function confirmDelete(vnet, link) {
  const back = await remoteLinkBack(vnet, link);
  const both = h('input', { type: 'checkbox', id: 'delete-both', checked: !!back, disabled: !back });
  const panel = document.getElementById('peering-action');
  const failure = h('div', {});
  formOpen = true;
  panel.replaceChildren(h('form', {
    class: 'blade',
    'aria-label': 'Delete peering',
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await arm('DELETE', `${vnet.id}/virtualNetworkPeerings/${encodeURIComponent(link.name)}`);
        if (back && both.checked) {
          await arm('DELETE', `${link.properties.remoteVirtualNetwork.id}/virtualNetworkPeerings/${encodeURIComponent(back.name)}`);
        }
        formOpen = false;
        await renderVnet(vnet.id);
      } catch (e) {
        failure.replaceChildren(errorBox(e));
      }
    },
  },
  h('p', {}, `Delete the peering ${link.name} to ${parts(link.properties.remoteVirtualNetwork.id).name}?`),
  h('label', { class: 'check' }, both, h('span', {}, back
    ? `Also delete the peering link ${back.name} on ${parts(link.properties.remoteVirtualNetwork.id).name}`
    : 'The remote virtual network has no peering link back, or you cannot see it')),
  failure,
  h('div', { class: 'toolbar' },
    h('button', { type: 'submit', class: 'primary' }, 'Delete'),
    h('button', { type: 'button', onclick: () => { formOpen = false; panel.replaceChildren(); } }, 'Cancel'))));
  panel.querySelector('button').focus();
}

// A NIC's effective routes and security rules, as Azure's portal tables show them.
async function renderNic(id) {
  const nic = await arm('GET', id);
  const [routes, groups] = await Promise.all([
    arm('POST', `${id}/effectiveRouteTable`),
    arm('POST', `${id}/effectiveNetworkSecurityGroups`),
  ]);
  const list = (v) => (Array.isArray(v) ? v.join(', ') : v || '');
  const routeRows = (routes.value || []).map((r) => h('tr', {},
    h('td', {}, r.source), h('td', {}, r.state), h('td', {}, list(r.addressPrefix)),
    h('td', {}, r.nextHopType), h('td', {}, list(r.nextHopIpAddress)), h('td', {}, r.name || '')));
  const ruleTables = (groups.value || []).map((g) => {
    const via = g.association.subnet ? `subnet ${parts(g.association.subnet.id).name}` : 'network interface';
    const nsg = g.networkSecurityGroup ? parts(g.networkSecurityGroup.id).name : '';
    const rows = (g.effectiveSecurityRules || []).map((r) => h('tr', {},
      h('td', {}, r.name.replace(/^(default)?[sS]ecurityRules\//, '')), h('td', {}, String(r.priority)), h('td', {}, r.direction),
      h('td', {}, r.sourceAddressPrefix || list(r.sourceAddressPrefixes)), h('td', {}, r.sourcePortRange || list(r.sourcePortRanges)),
      h('td', {}, r.destinationAddressPrefix || list(r.destinationAddressPrefixes)), h('td', {}, r.destinationPortRange || list(r.destinationPortRanges)),
      h('td', {}, r.protocol), h('td', { class: r.access === 'Deny' ? 'state-Disconnected' : 'state-Connected' }, r.access)));
    return [h('h3', {}, `${nsg} (associated with the ${via})`),
      table(['Name', 'Priority', 'Direction', 'Source', 'Source ports', 'Destination', 'Destination ports', 'Protocol', 'Access'], rows, `Effective security rules of ${nsg}`)];
  });
  const vnet = (nic.properties.ipConfigurations || []).map((c) => c.properties.subnet && c.properties.subnet.id).find(Boolean);
  show(
    h('p', {}, h('a', { href: '#/vnets' }, 'Virtual networks'), vnet ? [' › ', vnetLink(vnet.split('/subnets/')[0])] : null, ' › ', nic.name),
    h('h1', {}, nic.name),
    h('h2', {}, 'Effective routes'),
    table(['Source', 'State', 'Address prefixes', 'Next hop type', 'Next hop IP address', 'User defined route name'], routeRows, 'Effective routes'),
    h('h2', {}, 'Effective security rules'),
    ruleTables.length ? ruleTables.flat() : h('p', { class: 'muted' }, 'No network security group applies to this network interface.'));
}

// ---- address spaces ----------------------------------------------------------------------------

function parsePrefix(text) {
  const [ip, len] = text.split('/');
  const bits = Number(len);
  if (ip.includes(':')) {
    const [head, tail] = ip.split('::');
    const groups = (s) => (s ? s.split(':') : []);
    const h1 = groups(head);
    const t1 = tail === undefined ? [] : groups(tail);
    const full = tail === undefined ? h1 : [...h1, ...Array(8 - h1.length - t1.length).fill('0'), ...t1];
    const value = full.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
    return { v6: true, value, bits, width: 128 };
  }
  const value = ip.split('.').reduce((acc, o) => (acc << 8n) + BigInt(Number(o)), 0n);
  return { v6: false, value, bits, width: 32 };
}

function overlaps(a, b) {
  const x = parsePrefix(a);
  const y = parsePrefix(b);
  if (x.v6 !== y.v6) return false;
  const shift = BigInt(x.width - Math.min(x.bits, y.bits));
  return (x.value >> shift) === (y.value >> shift);
}

function overlapWith(localPrefixes, remotePrefixes) {
  for (const a of localPrefixes) {
    for (const b of remotePrefixes) {
      if (overlaps(a, b)) return [a, b];
    }
  }
  return null;
}

// ---- the Add peering form ----------------------------------------------------------------------

const LINK_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9_])?$/;

function check(id, label, checked) {
  const input = h('input', { type: 'checkbox', id, checked });
  return { input, row: h('label', { class: 'check', for: id }, input, h('span', {}, label)) };
}

async function renderAddPeering(id) {
  const vnet = await arm('GET', id);
  const local = vnet.properties.addressSpace.addressPrefixes || [];
  const [subs, vnets] = await Promise.all([subscriptions(), call('GET', '/portal/vnets').then((r) => r.value)]);
  vnets.sort((a, b) => a.name.localeCompare(b.name));
  const gatewaysBySub = {};
  for (const s of subs) gatewaysBySub[s.subscriptionId] = await gatewaysOf(s.subscriptionId);
  const localHasGateway = hasGateway(gatewaysBySub[parts(id).subscription] || [], id);
  formOpen = true;

  const localName = h('input', { type: 'text', id: 'local-name', required: true, 'aria-describedby': 'local-name-hint' });
  const remoteName = h('input', { type: 'text', id: 'remote-name', required: true, 'aria-describedby': 'remote-name-hint' });
  const knowId = h('input', { type: 'checkbox', id: 'know-id' });
  const remoteId = h('input', { type: 'text', id: 'remote-id', disabled: true, placeholder: '/subscriptions/…/virtualNetworks/…' });
  const subSelect = h('select', { id: 'remote-subscription' }, subs.map((s) => h('option', { value: s.subscriptionId }, `${s.displayName} (${s.subscriptionId})`)));
  const vnetSelect = h('select', { id: 'remote-vnet', required: true });
  const model = h('select', { id: 'deployment-model', disabled: true }, h('option', {}, 'Resource manager'));
  const localAccess = check('local-access', `Allow '${vnet.name}' to access the peered virtual network`, true);
  const localForwarded = check('local-forwarded', `Allow '${vnet.name}' to receive forwarded traffic from the peered virtual network`, false);
  const localTransit = check('local-transit', `Allow gateway in '${vnet.name}' to forward traffic to the peered virtual network`, false);
  const localRemoteGw = check('local-remote-gateway', `Enable '${vnet.name}' to use the peered virtual network's remote gateway`, false);
  const remoteAccess = check('remote-access', `Allow the peered virtual network to access '${vnet.name}'`, true);
  const remoteForwarded = check('remote-forwarded', `Allow the peered virtual network to receive forwarded traffic from '${vnet.name}'`, false);
  const remoteTransit = check('remote-transit', `Allow gateway in the peered virtual network to forward traffic to '${vnet.name}'`, false);
  const remoteRemoteGw = check('remote-remote-gateway', `Enable the peered virtual network to use '${vnet.name}'s remote gateway`, false);
  const problems = h('div', { 'aria-live': 'polite' });
  const failure = h('div', {});

  const fillVnets = () => {
    const sub = subSelect.value;
    const candidates = vnets.filter((v) => sameId(parts(v.id).subscription, sub));
    vnetSelect.replaceChildren(h('option', { value: '' }, 'Select a virtual network'), ...candidates.map((r) => {
      let reason = null;
      if (sameId(r.id, id)) reason = 'this virtual network';
      else if ((vnet.properties.virtualNetworkPeerings || []).some((l) => sameId(l.properties.remoteVirtualNetwork.id, r.id))) reason = 'already peered';
      else {
        const clash = overlapWith(local, r.addressPrefixes);
        if (clash) reason = `address space ${clash[1]} overlaps ${clash[0]}`;
      }
      return h('option', { value: r.id, disabled: !!reason, title: reason || '' }, reason ? `${r.name} (${reason})` : r.name);
    }));
  };
  const chosenRemote = () => (knowId.checked ? remoteId.value.trim() : vnetSelect.value);
  const gatewayOptions = () => {
    const remote = chosenRemote();
    const remoteSub = remote.split('/')[2] || '';
    const remoteHasGateway = !!remote && hasGateway(gatewaysBySub[remoteSub] || [], remote);
    localTransit.input.disabled = !localHasGateway;
    remoteRemoteGw.input.disabled = !localHasGateway;
    remoteTransit.input.disabled = !remoteHasGateway;
    localRemoteGw.input.disabled = !remoteHasGateway;
    for (const c of [localTransit, remoteRemoteGw, remoteTransit, localRemoteGw]) {
      if (c.input.disabled) c.input.checked = false;
    }
  };
  subSelect.addEventListener('change', () => { fillVnets(); gatewayOptions(); });
  vnetSelect.addEventListener('change', gatewayOptions);
  remoteId.addEventListener('input', gatewayOptions);
  knowId.addEventListener('change', () => {
    remoteId.disabled = !knowId.checked;
    subSelect.disabled = knowId.checked;
    vnetSelect.disabled = knowId.checked;
    gatewayOptions();
  });
  const sub = parts(id).subscription;
  if (subs.some((s) => s.subscriptionId === sub)) subSelect.value = sub;
  fillVnets();
  gatewayOptions();

  const validate = () => {
    const out = [];
    if (!LINK_NAME.test(localName.value)) out.push('The peering link name for this virtual network must be 1 to 80 letters, digits, periods, underscores or hyphens, start with a letter or digit and end with a letter, digit or underscore.');
    if (!LINK_NAME.test(remoteName.value)) out.push('The peering link name for the remote virtual network must be 1 to 80 letters, digits, periods, underscores or hyphens, start with a letter or digit and end with a letter, digit or underscore.');
    const remote = chosenRemote();
    if (!remote) out.push('Choose the remote virtual network.');
    else if (!/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Network\/virtualNetworks\/[^/]+$/i.test(remote)) out.push('The resource id must be a virtual network\'s: /subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{name}.');
    problems.replaceChildren(...out.map((m) => h('p', { class: 'invalid' }, m)));
    return out.length === 0;
  };

  // Once a submit has shown what is wrong, every change checks again.
  for (const input of [localName, remoteName, remoteId, vnetSelect, knowId]) {
    input.addEventListener('input', () => { if (problems.childElementCount) validate(); });
    input.addEventListener('change', () => { if (problems.childElementCount) validate(); });
  }

  const form = h('form', {
    class: 'blade',
    'aria-label': 'Add peering',
    // The form checks its fields itself, saying what is wrong with each.
    novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      failure.replaceChildren();
      if (!validate()) return;
      const remote = chosenRemote();
      const here = { properties: {
        remoteVirtualNetwork: { id: remote },
        allowVirtualNetworkAccess: localAccess.input.checked,
        allowForwardedTraffic: localForwarded.input.checked,
        allowGatewayTransit: localTransit.input.checked,
        useRemoteGateways: localRemoteGw.input.checked,
      } };
      const there = { properties: {
        remoteVirtualNetwork: { id },
        allowVirtualNetworkAccess: remoteAccess.input.checked,
        allowForwardedTraffic: remoteForwarded.input.checked,
        allowGatewayTransit: remoteTransit.input.checked,
        useRemoteGateways: remoteRemoteGw.input.checked,
      } };
      const submit = form.querySelector('button[type=submit]');
      submit.disabled = true;
      try {
        await arm('PUT', `${id}/virtualNetworkPeerings/${encodeURIComponent(localName.value)}`, here);
      } catch (e) {
        failure.replaceChildren(errorBox(e));
        submit.disabled = false;
        return;
      }
      try {
        await arm('PUT', `${remote}/virtualNetworkPeerings/${encodeURIComponent(remoteName.value)}`, there);
      } catch (e) {
        formOpen = false;
        // The link from this side was made; the remote one was refused.
        location.hash = `#/vnet/${encodeURIComponent(id)}`;
        await renderVnet(id, e);
        return;
      }
      formOpen = false;
      location.hash = `#/vnet/${encodeURIComponent(id)}`;
    },
  },
  h('h1', {}, `Add peering to ${vnet.name}`),
  h('fieldset', {}, h('legend', {}, 'This virtual network'),
    h('div', { class: 'field' }, h('label', { for: 'local-name' }, 'Peering link name'), localName,
      h('span', { id: 'local-name-hint', class: 'hint' }, `The name of the link from ${vnet.name}.`)),
    localAccess.row, localForwarded.row, localTransit.row, localRemoteGw.row),
  h('fieldset', {}, h('legend', {}, 'Remote virtual network'),
    h('div', { class: 'field' }, h('label', { for: 'remote-name' }, 'Peering link name'), remoteName,
      h('span', { id: 'remote-name-hint', class: 'hint' }, 'The name of the link from the remote virtual network.')),
    h('div', { class: 'field' }, h('label', { for: 'deployment-model' }, 'Virtual network deployment model'), model),
    h('label', { class: 'check', for: 'know-id' }, knowId, h('span', {}, 'I know my resource ID')),
    h('div', { class: 'field' }, h('label', { for: 'remote-id' }, 'Resource ID'), remoteId),
    h('div', { class: 'field' }, h('label', { for: 'remote-subscription' }, 'Subscription'), subSelect),
    h('div', { class: 'field' }, h('label', { for: 'remote-vnet' }, 'Virtual network'), vnetSelect),
    remoteAccess.row, remoteForwarded.row, remoteTransit.row, remoteRemoteGw.row),
  problems,
  failure,
  h('div', { class: 'toolbar' },
    h('button', { type: 'submit', class: 'primary' }, 'Add'),
    h('button', { type: 'button', onclick: () => { formOpen = false; location.hash = `#/vnet/${encodeURIComponent(id)}`; } }, 'Cancel')));
  showForm(form);
  localName.focus();
}

// ---- routing -----------------------------------------------------------------------------------

async function route(refresh) {
  if (!refresh) formOpen = false;
  if (refresh) refreshRunning = true;
  try {
    if (!(await ensureSignedIn())) return;
    const hash = location.hash || '#/vnets';
    const vnet = hash.match(/^#\/vnet\/([^/]+)(\/add-peering)?$/);
    const nic = hash.match(/^#\/nic\/([^/]+)$/);
    if (hash === '#/topology') {
      await renderTopology(refresh);
    } else if (nic) {
      await renderNic(decodeURIComponent(nic[1]));
    } else if (vnet && vnet[2]) {
      if (!refresh) await renderAddPeering(decodeURIComponent(vnet[1]));
    } else if (vnet) {
      await renderVnet(decodeURIComponent(vnet[1]));
    } else {
      await renderVnets(refresh);
    }
    document.body.dataset.rendered = String(Date.now());
    // After the next frame: the page as drawn on the screen.
    requestAnimationFrame(() => setTimeout(() => { document.body.dataset.painted = String(Date.now()); }, 0));
  } catch (e) {
    if (!token) {
      route();
      return;
    }
    show(errorBox(e));
  } finally {
    if (refresh) refreshRunning = false;
  }
}

window.addEventListener('hashchange', () => route());
route();
