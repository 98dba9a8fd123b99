'use strict';

/*
 * Reads the server's per-route request counters out of its Prometheus
 * exposition (`webex_http_request_seconds_count{method,route,status}`).
 */

const SERIES = 'webex_http_request_seconds_count';

function parseLabels(text) {
  const labels = {};
  const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
  let match;
  while ((match = re.exec(text)) !== null) labels[match[1]] = match[2].replace(/\\(.)/g, '$1');
  return labels;
}

/**
 * @param {string} exposition the body of GET /metrics
 * @returns {Map<string, number>} "METHOD route status" → count
 */
function parseRouteCounts(exposition) {
  const counts = new Map();
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${SERIES}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels = parseLabels(line.slice(SERIES.length + 1, close));
    const value = Number(line.slice(close + 1).trim().split(/\s+/)[0]);
    const key = `${labels.method} ${labels.route} ${labels.status}`;
    counts.set(key, (counts.get(key) || 0) + value);
  }
  return counts;
}

/**
 * What happened between two snapshots.
 * @returns {Array<{method: string, route: string, status: number, count: number}>}
 */
function diffRouteCounts(before, after) {
  const out = [];
  for (const [key, value] of after) {
    const delta = value - (before.get(key) || 0);
    if (delta <= 0) continue;
    const [method, route, status] = key.split(' ');
    out.push({ method, route, status: Number(status), count: delta });
  }
  return out.sort((a, b) => a.route.localeCompare(b.route) || a.status - b.status);
}

module.exports = { parseRouteCounts, diffRouteCounts, SERIES };
