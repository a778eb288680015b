// Test certificates made with the openssl CLI (Debian): a root CA, an intermediate CA and leaves
// for 127.0.0.1/localhost, so chain handling and reload are tested with real X.509 material.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ossl = (dir: string, args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });

export function makeRootAndIntermediate(dir: string) {
  writeFileSync(join(dir, "ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
  ossl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "root.key", "-out", "root.pem", "-days", "2", "-subj", "/CN=parlance test root", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  ossl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "int.key", "-out", "int.csr", "-subj", "/CN=parlance test intermediate"]);
  ossl(dir, ["x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-out", "int.pem", "-days", "2", "-extfile", "ca.ext"]);
  return { rootPem: readFileSync(join(dir, "root.pem"), "utf8") };
}

/** A leaf signed by the intermediate; writes <name>.pem (leaf + intermediate) and <name>.key. */
export function makeLeaf(dir: string, name: string) {
  writeFileSync(join(dir, "leaf.ext"), "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n");
  ossl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", "/CN=localhost"]);
  ossl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", "int.pem", "-CAkey", "int.key", "-CAcreateserial", "-out", `${name}.leaf.pem`, "-days", "2", "-extfile", "leaf.ext"]);
  const chain = readFileSync(join(dir, `${name}.leaf.pem`), "utf8") + readFileSync(join(dir, "int.pem"), "utf8");
  writeFileSync(join(dir, `${name}.pem`), chain);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}
