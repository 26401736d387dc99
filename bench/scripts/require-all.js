// Requires every direct dependency of the project in the current directory that can be
// loaded by plain require() (some are CSS, ESM-only or need a DOM); prints how many loaded.
const deps = Object.keys(require(process.cwd() + '/package.json').dependencies || {});
let loaded = 0;
for (const name of deps) {
  try {
    require(require.resolve(name, { paths: [process.cwd()] }));
    loaded++;
  } catch (_) {
    // Not loadable in plain node: counted out, as in the peers' measurement.
  }
}
console.log(`${loaded}/${deps.length}`);
