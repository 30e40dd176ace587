// Builds the prebuilt (federated) extension into ../tcl_magic/labextension with
// @jupyterlab/builder, against the JupyterLab that python3 imports (its staging folder
// says which packages the host shares), then records the sources' hash in the bundle.
const { execFileSync } = require('child_process');
const path = require('path');

const python = process.env.PYTHON || 'python3';
const core = execFileSync(python, ['-c',
  'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))'])
  .toString().trim();
const builder = require.resolve('@jupyterlab/builder/lib/build-labextension.js');
execFileSync(process.execPath, [builder, '--core-path', core, __dirname], { stdio: 'inherit' });
require('./record-source.js');
