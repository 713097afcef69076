/** Whether the process `pid` (or, for a negative id, any process of the group `-id`) is still there (signal 0). */
export function processAlive(id: number): boolean {
  try {
    process.kill(id, 0);
    return true;
  } catch {
    return false;
  }
}
