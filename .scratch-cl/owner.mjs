const { openChildLog, pipeChildOutput } = await import('/work/h-int/dist/src/local/backends/child-log.js');
const { spawn } = await import('node:child_process');
const log = await openChildLog('/work/h-int/.scratch-cl/c.log');
const childCode = `const { spawn } = require('node:child_process'); const left = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { detached: true, stdio: ['ignore', 'inherit', 'inherit'] }); console.log('child out');`;
const child = spawn(process.execPath, ['-e', childCode], { stdio: ['ignore', 'pipe', 'pipe'] });
const endLog = pipeChildOutput([child.stdout, child.stderr], log, undefined, 100);
child.once('exit', () => { console.error('child exit', Date.now()); endLog(); setTimeout(() => console.error(process.getActiveResourcesInfo()), 500).unref(); setTimeout(()=>console.error('still', process.getActiveResourcesInfo()), 1000); });
