import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
const dir = '/work/h-int/.scratch-cl';
const leftPid = join(dir, 'left.pid');
const child = `const { spawn } = require('node:child_process'); const left = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { detached: true, stdio: ['ignore', 'inherit', 'inherit'] }); require('node:fs').writeFileSync(${JSON.stringify(leftPid)}, String(left.pid)); console.log('child out');`;
writeFileSync(join(dir, 'owner2.mjs'),
    `const { openChildLog, pipeChildOutput } = await import(${JSON.stringify('/work/h-int/dist/src/local/backends/child-log.js')});
const { spawn } = await import('node:child_process');
const log = await openChildLog(${JSON.stringify(join(dir, 'c.log'))});
const child = spawn(process.execPath, ['-e', ${JSON.stringify(child)}], { stdio: ['ignore', 'pipe', 'pipe'] });
const endLog = pipeChildOutput([child.stdout, child.stderr], log, undefined, 100);
child.once('exit', endLog);
setTimeout(() => console.error('res', process.getActiveResourcesInfo()), 2000).unref();`);
