/** The agent's version, reported in heartbeats, metrics and app_id. Kept in step with package.json by a unit test. */
export const VERSION = "0.1.0";
