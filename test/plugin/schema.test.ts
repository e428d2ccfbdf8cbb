import * as assert from "node:assert/strict";
import * as fs from "fs";
import { SCHEMA_FILE, schemaText } from "../../plugin/schema-gen";

const { version } = require("../../package.json") as { version: string };

interface Property {
  readonly description?: string;
  readonly secret?: boolean;
  readonly default?: unknown;
}

describe("plugin/schema.json", () => {
  const schema = JSON.parse(fs.readFileSync(SCHEMA_FILE, "utf8"));

  it("is what `npm run plugin:schema` makes from the SDK's TSDoc today (run it after editing a description)", () => {
    assert.equal(fs.readFileSync(SCHEMA_FILE, "utf8"), schemaText(version));
  });

  it("describes every input of both resources, marks the credentials secret and keeps the SDK's defaults", () => {
    for (const token of ["etcdquota:index:EtcdQuota", "etcdquota:index:EtcdCompaction"]) {
      const inputs: Record<string, Property> = schema.resources[token].inputProperties;
      for (const [name, property] of Object.entries(inputs)) {
        assert.ok(property.description, `${token} input ${name} has a description`);
      }
      assert.equal(inputs.password.secret, true, `${token} password`);
      assert.equal(inputs.tls.secret, true, `${token} tls`);
      assert.equal(inputs.disarmBelow.default, 0.9, `${token} disarmBelow`);
      assert.equal(inputs.callTimeout.default, "10s", `${token} callTimeout`);
    }
    const connection: Record<string, Property> = schema.types["etcdquota:index:Connection"].properties;
    assert.deepEqual(
      Object.keys(connection).filter((key) => connection[key].secret),
      ["privateKey", "privateKeyPassword", "password"],
    );
    assert.equal(schema.types["etcdquota:index:Snapshot"].properties.keep.default, 3);
    assert.equal(schema.version, version);
  });
});
