// CI: fail if the committed API types (web/src/api/schema.ts) are not what docs/openapi.yaml generates, or if
// the committed web/dist or web/comfyui differs from a rebuild of the page and the ComfyUI extension into scratch
// folders.
import { execSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const web = new URL("..", import.meta.url).pathname;
const scratch = join(web, ".build-check");
const outputs = [
  { committed: "dist", env: "HIKAZE_WEB_OUT" },
  { committed: "comfyui", env: "HIKAZE_EXT_OUT" },
];
try {
  execSync("npm run --silent api-types -- --check", { cwd: web, stdio: "ignore" });
} catch {
  console.error("web/src/api/schema.ts is stale; run `npm run api-types` in web/ and commit it.");
  process.exit(1);
}

rmSync(scratch, { recursive: true, force: true });
const env = { ...process.env };
for (const out of outputs) env[out.env] = join(scratch, out.committed);
execSync("npm run --silent build", { cwd: web, stdio: "inherit", env });

function files(dir) {
  const out = new Map();
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

const problems = [];
const counts = [];
for (const out of outputs) {
  const built = files(join(scratch, out.committed));
  const committed = files(join(web, out.committed));
  for (const [name, data] of built) {
    if (!committed.has(name)) problems.push(`missing from web/${out.committed}: ${name}`);
    else if (!committed.get(name).equals(data)) problems.push(`differs: web/${out.committed}/${name}`);
  }
  for (const name of committed.keys()) {
    if (!built.has(name)) problems.push(`stale file in web/${out.committed}: ${name}`);
  }
  counts.push(`web/${out.committed}: ${built.size} files`);
}
rmSync(scratch, { recursive: true, force: true });
if (problems.length) {
  console.error(
    "The committed bundle is stale; run `npm run build` in web/ and commit web/dist and web/comfyui.\n" +
      problems.join("\n"),
  );
  process.exit(1);
}
console.log(`The committed bundles match the sources (${counts.join(", ")}).`);
