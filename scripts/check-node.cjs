// Stops `npm run build`, and so `npm start`, `npm test` and every other command that builds first, with
// one line on a Node.js that the root package.json's `engines` does not name. Plain CommonJS with no
// dependencies, so that it runs on any Node.js, with nothing installed or built. (`npm install` and
// `npm ci` stop before they install anything: .npmrc sets engine-strict. npm runs the root project's own
// preinstall script only after it has installed the whole tree, so that could not stop them.)
'use strict';
const fs = require('fs');
const path = require('path');

/**
 * The `^MAJOR.MINOR.PATCH` alternatives of a range such as `^22.15.0 || ^24.0.0`, the only form used.
 * @param {string} range
 * @returns {number[][]}
 */
function alternatives(range) {
  return range.split('||').map((part) => {
    const match = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(part.trim());
    if (!match) throw new Error(`scripts/check-node.cjs reads engines.node as ^X.Y.Z alternatives, not "${part.trim()}"`);
    return match.slice(1).map(Number);
  });
}

/**
 * Whether `version` (`22.15.0`) is within `range`.
 * @param {string} version
 * @param {string} range
 */
function supported(version, range) {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map(Number);
  return alternatives(range).some(([M, m = 0, p = 0]) => major === M && (minor > m || (minor === m && patch >= p)));
}

/**
 * `22 (22.15 or later) or 24` for `^22.15.0 || ^24.0.0`.
 * @param {string} range
 */
function wanted(range) {
  const names = alternatives(range).map(([M, m, p]) => (m === 0 && p === 0 ? `${M}` : `${M} (${M}.${m}${p ? `.${p}` : ''} or later)`));
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}` : `${names[0]}`;
}

/**
 * The one line that refuses `version`, or undefined when it is supported.
 * @param {string} version
 * @param {string} [root] the folder of the package.json whose engines decide
 * @returns {string | undefined}
 */
function refusal(version, root = path.join(__dirname, '..')) {
  /** @type {unknown} */
  const read = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const manifest = /** @type {{ name: string; engines: { node: string } }} */ (read);
  if (supported(version, manifest.engines.node)) return undefined;
  return (
    `error: ${manifest.name} needs Node.js ${wanted(manifest.engines.node)} (this is ${version}): ` +
    'install one (nvm install 24, or nodejs.org), put it first on PATH, and run the command again'
  );
}

module.exports = { supported, wanted, refusal };

if (require.main === module) {
  const line = refusal(process.versions.node);
  if (line) {
    console.error(line);
    process.exit(1);
  }
}
