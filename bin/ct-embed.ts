/** ct-embed: not implemented yet (see the issue tracker). */
import { runTool } from '../src/cli.js';
import { RuntimeError } from '../src/io/errors.js';

runTool('ct-embed', async () => {
  throw new RuntimeError('not implemented yet');
});
