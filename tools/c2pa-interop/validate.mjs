// Validate the C2PA manifest of one file with c2pa-ts and print a JSON result on stdout.
// Usage: node validate.mjs FILE
import * as fs from 'node:fs/promises';
import { BMFF, JPEG, PNG } from '@trustnxt/c2pa-ts/asset';
import { SuperBox } from '@trustnxt/c2pa-ts/jumbf';
import { ManifestStore, ValidationResult } from '@trustnxt/c2pa-ts/manifest';

// c2pa-ts 0.9.4 (the newest on npm) opens BMFF files only for the HEIF brands, although its box parser
// and BMFF v2/v3 hash validation are container-generic; MP4 brands are added here for that reason.
for (const brand of ['isom', 'iso2', 'mp41', 'mp42']) BMFF.canReadBrands.add(brand);

const buf = new Uint8Array(await fs.readFile(process.argv[2]));
let asset;
if (JPEG.canRead(buf)) asset = new JPEG(buf);
else if (PNG.canRead(buf)) asset = new PNG(buf);
else if (BMFF.canRead(buf)) asset = new BMFF(buf);
else {
  console.log(JSON.stringify({ error: 'unknown format' }));
  process.exit(2);
}
const jumbf = asset.getManifestJUMBF();
if (!jumbf) {
  console.log(JSON.stringify({ manifest: false }));
  process.exit(0);
}
let result;
try {
  const manifests = ManifestStore.read(SuperBox.fromBuffer(jumbf));
  result = await manifests.validate(asset);
} catch (e) {
  result = ValidationResult.fromError(e);
}
const entries = result.statusEntries.map((entry) => ({ code: entry.code, success: entry.success }));
console.log(JSON.stringify({ manifest: true, isValid: result.isValid, statusEntries: entries }));
