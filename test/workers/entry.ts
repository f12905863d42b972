// Minimal Worker entry for the workerd test suite; tests import modules directly rather than going through it.
export default {
  async fetch(): Promise<Response> {
    return new Response("leasehold workers test entry\n");
  },
};
