import { endToEndTests } from './e2e-suite';
import { startStack, type RunningStack } from './stack';

describe('the stack through the gateway', () => {
  let stack: RunningStack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  endToEndTests(() => stack);
});
