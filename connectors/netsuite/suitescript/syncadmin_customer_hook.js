/**
 * syncadmin: tell syncadmin a customer was saved, so the change reaches Zuora in seconds.
 *
 * After a customer is created or edited (in the UI, inline, by CSV import, by another script
 * or an integration), post {"recordType": "customer", "id": "<internal id>", "eventType":
 * "create"|"edit"|"xedit"} to syncadmin's hook, signed with the shared secret:
 *   X-Syncadmin-Timestamp: Unix time in seconds
 *   X-Syncadmin-Signature: "v1=" + hex HMAC-SHA256(secret, "<timestamp>." + body)
 * (the same contract as connectors/webhooks.py). The secret never appears in this script:
 * it is an API Secret (Setup > Company > Preferences > API Secrets) named by a parameter.
 *
 * The record is already saved when afterSubmit runs. Nothing here may fail that save: every
 * error is logged (Customization > Scripting > Script Deployments > this deployment > Execution
 * Log) and swallowed. A call that is lost costs nothing: syncadmin's scheduled sync picks the
 * change up at its next run.
 *
 * Script parameters (see README.md):
 *   custscript_syncadmin_hook_url        syncadmin's https://<host>/hooks/netsuite/
 *   custscript_syncadmin_hook_secret_id  the API Secret's ID, e.g. custsecret_syncadmin_hook
 *   custscript_syncadmin_skip_role       optional: internal id of the role syncadmin's own
 *                                        integration uses; its saves are not announced
 *
 * @NApiVersion 2.1
 * @NScriptType UserEventScript
 * @NModuleScope SameAccount
 */
define(['N/crypto', 'N/encode', 'N/https', 'N/log', 'N/runtime'], (crypto, encode, https, log, runtime) => {
    const PARAM_URL = 'custscript_syncadmin_hook_url';
    const PARAM_SECRET_ID = 'custscript_syncadmin_hook_secret_id';
    const PARAM_SKIP_ROLE = 'custscript_syncadmin_skip_role';

    /** "v1=" + hex HMAC-SHA256 of "<timestamp>.<body>" with the API Secret `secretId`. */
    const sign = (secretId, timestamp, body) => {
        const key = crypto.createSecretKey({ secret: secretId, encoding: encode.Encoding.UTF_8 });
        const hmac = crypto.createHmac({ algorithm: crypto.HashAlg.SHA256, key: key });
        hmac.update({ input: `${timestamp}.${body}`, inputEncoding: encode.Encoding.UTF_8 });
        return 'v1=' + hmac.digest({ outputEncoding: encode.Encoding.HEX });
    };

    const announced = (context) => [
        context.UserEventType.CREATE,
        context.UserEventType.EDIT,
        context.UserEventType.XEDIT,
    ].includes(context.type);

    const afterSubmit = (context) => {
        try {
            if (!announced(context)) {
                return;
            }
            const script = runtime.getCurrentScript();
            const url = script.getParameter({ name: PARAM_URL });
            const secretId = script.getParameter({ name: PARAM_SECRET_ID });
            if (!url || !secretId) {
                log.error({
                    title: 'syncadmin hook not configured',
                    details: `Set the ${PARAM_URL} and ${PARAM_SECRET_ID} parameters on this deployment.`,
                });
                return;
            }
            const skipRole = script.getParameter({ name: PARAM_SKIP_ROLE });
            if (skipRole && String(runtime.getCurrentUser().role) === String(skipRole)) {
                // syncadmin's own write: it knows about it already.
                return;
            }
            const id = String(context.newRecord.id);
            // eventId makes two saves within one second two different calls: the receiver
            // refuses a call it has already seen (same timestamp, same body) as a replay.
            const eventId = `${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
            const body = JSON.stringify({ recordType: 'customer', id: id, eventType: context.type, eventId: eventId });
            const timestamp = String(Math.floor(Date.now() / 1000));
            const response = https.post({
                url: url,
                body: body,
                headers: {
                    'Content-Type': 'application/json',
                    'X-Syncadmin-Timestamp': timestamp,
                    'X-Syncadmin-Signature': sign(secretId, timestamp, body),
                },
            });
            if (response.code === 202) {
                log.debug({ title: 'syncadmin hook sent', details: `customer ${id} (${context.type})` });
            } else {
                // 409: syncadmin syncs the other way (Zuora is the master); 403: near-real-time
                // is off in syncadmin. Both are expected answers, not faults of this script.
                log.audit({
                    title: `syncadmin hook answered ${response.code}`,
                    details: `customer ${id} (${context.type}): ${String(response.body).slice(0, 300)}`,
                });
            }
        } catch (e) {
            log.error({
                title: 'syncadmin hook not sent',
                details: `customer ${context.newRecord && context.newRecord.id}: ${e.name || ''} ${e.message || e}`,
            });
        }
    };

    return { afterSubmit: afterSubmit };
});
