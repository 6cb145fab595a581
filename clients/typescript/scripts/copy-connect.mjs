// Puts the vault's connect script (public/connect.js at the repository's
// root) beside dist/connect.js as dist/connect-global.js. Without it, a
// stand-in is written and connect() rejects, saying so.
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const source = path.resolve(root, "../../public/connect.js");
const target = path.join(root, "dist/connect-global.js");

if (existsSync(source)) {
  copyFileSync(source, target);
} else {
  writeFileSync(target, "// The connect script was not found when this package was built.\n");
  console.warn(`copy-connect: ${source} is missing; connect() will reject`);
}
