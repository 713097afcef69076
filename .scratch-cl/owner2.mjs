const { openChildLog, pipeChildOutput } = await import("/work/h-int/dist/src/local/backends/child-log.js");
const { spawn } = await import('node:child_process');
const log = await openChildLog("/work/h-int/.scratch-cl/c.log");
const child = spawn(process.execPath, ['-e', "const { spawn } = require('node:child_process'); const left = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { detached: true, stdio: ['ignore', 'inherit', 'inherit'] }); require('node:fs').writeFileSync(\"/work/h-int/.scratch-cl/left.pid\", String(left.pid)); console.log('child out');"], { stdio: ['ignore', 'pipe', 'pipe'] });
const endLog = pipeChildOutput([child.stdout, child.stderr], log, undefined, 100);
child.once('exit', endLog);
setTimeout(() => console.error('res', process.getActiveResourcesInfo()), 2000).unref();