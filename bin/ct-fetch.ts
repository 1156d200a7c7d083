/** ct-fetch: not implemented yet (see the issue tracker). */
import { runTool } from '../src/cli.js';
import { RuntimeError } from '../src/io/errors.js';

runTool('ct-fetch', async () => {
  throw new RuntimeError('not implemented yet');
});
