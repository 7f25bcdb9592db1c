import { InMemoryDriver } from './inmemory.js';
import { runDriverSuite } from './suite.js';

runDriverSuite({
  name: 'inmemory',
  newDriver: async () => {
    const driver = new InMemoryDriver();
    return {
      driver,
      cleanup: async () => {
        // The suite has deleted everything through the driver; nothing may remain.
        const left = await driver.list('/');
        if (left.length > 0) throw new Error(`test left files behind: ${left.join(', ')}`);
      },
    };
  },
  skip: [
    {
      reason:
        'the inmemory driver keeps every file in memory by design; streaming applies to drivers with a backing store',
      tests: ['append does not buffer the source in memory'],
    },
  ],
});
