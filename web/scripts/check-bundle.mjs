// CI: rebuild the page into a scratch folder and fail if the committed web/dist differs from it.
import { execSync } from "node:child_process";
import { readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const web = new URL("..", import.meta.url).pathname;
const scratch = join(web, ".build-check");
rmSync(scratch, { recursive: true, force: true });
execSync("npm run --silent build", { cwd: web, stdio: "inherit", env: { ...process.env, HIKAZE_WEB_OUT: scratch } });

function files(dir) {
  const out = new Map();
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

const built = files(scratch);
const committed = files(join(web, "dist"));
const problems = [];
for (const [name, data] of built) {
  if (!committed.has(name)) problems.push(`missing from web/dist: ${name}`);
  else if (!committed.get(name).equals(data)) problems.push(`differs: web/dist/${name}`);
}
for (const name of committed.keys()) if (!built.has(name)) problems.push(`stale file in web/dist: ${name}`);
rmSync(scratch, { recursive: true, force: true });
if (problems.length) {
  console.error("The committed bundle is stale; run `npm run build` in web/ and commit web/dist.\n" + problems.join("\n"));
  process.exit(1);
}
console.log(`web/dist matches the sources (${built.size} files).`);
