# mtls-doctor lint corpus. Pattern: map $ssl_client_s_dn with an unanchored CN regex, CN list authorizes
# Source: https://github.com/rbkmoney/salt-common/blob/HEAD/sls/nginx/nginx.conf.tpl
# Written for this corpus from the pattern above, not copied.

user nginx nginx;
worker_processes {{ worker_processes }};
events { worker_connections {{ worker_connections }}; }
http {
    ssl_protocols {{ ssl_protocols }};
    ssl_ciphers {{ ssl_ciphers }};
    map $ssl_client_s_dn $ssl_client_s_dn_cn {
        default "";
        ~[/,]?CN=(?<CN>[^/,]+) $CN;
    }
    map $ssl_client_s_dn_cn $tls_client_ok {
        default 0;
        {% for cn in allowed_cns %}"{{ cn }}" 1;
        {% endfor %}
    }
    server {
        listen 443 ssl;
        server_name {{ server_name }};
        ssl_certificate {{ cert }};
        ssl_certificate_key {{ key }};
        ssl_client_certificate {{ client_ca }};
        ssl_verify_client on;
        location / {
            if ($tls_client_ok = 0) { return 403; }
            proxy_pass http://127.0.0.1:{{ app_port }};
        }
    }
}
