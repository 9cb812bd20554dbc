# mtls-doctor lint corpus. Pattern: site-ssl-grpc.conf.tpl with bare uppercase placeholders replaced by sed
# Source: https://github.com/samuelhbne/server-xray/blob/HEAD/site-ssl-grpc.conf.tpl
# Written for this corpus from the pattern above, not copied.

server {
    listen                  NGPORT ssl http2;
    server_name             NGDOMAIN;
    ssl_certificate         CERTFILE;
    ssl_certificate_key     PRVKEYFILE;
    ssl_client_certificate  CLIENTCAFILE;
    ssl_verify_client       on;
    ssl_protocols           TLSv1.2 TLSv1.3;
    location GSVC {
        grpc_pass grpc://127.0.0.1:GPORT;
        grpc_set_header X-SSL-CERT $ssl_client_escaped_cert;
    }
}
