// Runs syncadmin_customer_hook.js's afterSubmit outside NetSuite, with the N/* modules
// stubbed (N/crypto on node's own HMAC), and prints what it would post as JSON on stdout.
// Log lines go to stderr as "LEVEL title: details".
//
//   node harness.js <secret> <event type> <internal id>
//
// Event types: create, edit, xedit, delete; "edit_unreachable" makes the post throw like
// NetSuite does when the host cannot be reached; "edit_skipped" saves as the skipped role.
'use strict';
const nodeCrypto = require('crypto');
const path = require('path');

const [secret, eventArg, internalId] = process.argv.slice(2);
const unreachable = eventArg === 'edit_unreachable';
const skipped = eventArg === 'edit_skipped';
const eventType = unreachable || skipped ? 'edit' : eventArg;
const API_SECRETS = { custsecret_syncadmin_hook: secret };
const PARAMETERS = {
    custscript_syncadmin_hook_url: 'https://syncadmin.example.com/hooks/netsuite/',
    custscript_syncadmin_hook_secret_id: 'custsecret_syncadmin_hook',
    custscript_syncadmin_skip_role: '1042',
};

const Encoding = { UTF_8: 'UTF_8', HEX: 'HEX', BASE_64: 'BASE_64' };
const modules = {
    'N/encode': { Encoding },
    'N/crypto': {
        HashAlg: { SHA256: 'SHA256', SHA512: 'SHA512' },
        createSecretKey: (options) => {
            if (!(options.secret in API_SECRETS)) {
                throw { name: 'INVALID_SECRET_KEY', message: `no API secret ${options.secret}` };
            }
            return { secret: options.secret, encoding: options.encoding };
        },
        createHmac: (options) => {
            if (options.algorithm !== 'SHA256') throw new Error('unexpected algorithm');
            const hmac = nodeCrypto.createHmac('sha256', Buffer.from(API_SECRETS[options.key.secret], 'utf8'));
            return {
                update: (o) => hmac.update(Buffer.from(o.input, o.inputEncoding === Encoding.UTF_8 ? 'utf8' : 'latin1')),
                digest: (o) => {
                    if (o.outputEncoding !== Encoding.HEX) throw new Error('expected a HEX digest');
                    return hmac.digest('hex');
                },
            };
        },
    },
    'N/https': {
        post: (options) => {
            if (unreachable) {
                throw { name: 'SSS_CONNECTION_CLOSED', message: 'The host closed the connection.' };
            }
            process.stdout.write(JSON.stringify(options));
            return { code: 202, body: '' };
        },
    },
    'N/log': Object.fromEntries(['debug', 'audit', 'error', 'emergency'].map((level) => [
        level,
        (o) => process.stderr.write(`${level.toUpperCase()} ${o.title}: ${o.details}\n`),
    ])),
    'N/runtime': {
        getCurrentScript: () => ({ getParameter: (o) => PARAMETERS[o.name] }),
        getCurrentUser: () => ({ role: skipped ? 1042 : 3 }),
    },
};

let entryPoints;
global.define = (dependencies, factory) => {
    entryPoints = factory(...dependencies.map((name) => modules[name]));
};
require(path.join(__dirname, '..', 'syncadmin_customer_hook.js'));
entryPoints.afterSubmit({
    type: eventType,
    newRecord: { id: Number(internalId), type: 'customer' },
    UserEventType: { CREATE: 'create', EDIT: 'edit', XEDIT: 'xedit', DELETE: 'delete' },
});
