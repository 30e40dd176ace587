// Records in the built bundle a hash of the sources it was built from, so that a test
// (tests/test_labextension.py) can tell, without Node.js, whether the shipped bundle is
// built from the current sources.
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const root = __dirname;
const files = ['package.json', 'package-lock.json', 'tsconfig.json', 'build.js', 'record-source.js']
  .concat(fs.readdirSync(path.join(root, 'src')).sort().map(f => path.join('src', f)))
  .concat(fs.readdirSync(path.join(root, 'style')).sort().map(f => path.join('style', f)));
const hash = crypto.createHash('sha256');
for (const file of files) {
  hash.update(file.split(path.sep).join('/') + '\0');
  hash.update(fs.readFileSync(path.join(root, file)).toString('utf8').replace(/\r\n/g, '\n'));
  hash.update('\0');
}
const out = path.join(root, '..', 'tcl_magic', 'labextension', 'source.sha256');
fs.writeFileSync(out, hash.digest('hex') + '\n');
console.log(`recorded the sources' hash in ${path.relative(process.cwd(), out)}`);
