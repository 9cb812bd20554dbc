# mtls-doctor lint corpus (field set r2). Pattern: Salt/Jinja nginx.conf: an unanchored CN map used only for the access log, vhosts included, a verifying server
# Source: https://github.com/rbkmoney/salt-common/blob/master/sls/nginx/nginx.conf.tpl
# Written for this corpus from the pattern above, not copied.
worker_processes {{ worker_processes }};
events {
    worker_connections {{ worker_connections }};
}
http {
    ssl_protocols {{ ssl_protocols }};
    ssl_ciphers {{ ssl_ciphers }};
    ssl_session_cache {{ ssl_session_cache }};
    map $ssl_client_s_dn $client_cn {
        default "";
        ~[/,]?CN=(?<CN>[^/,]+) $CN;
    }
    log_format tls_client '[$time_local] $http_host $remote_addr $client_cn "$request" $status';
    server {
        listen 443 ssl;
        server_name {{ server_name }};
        ssl_certificate     /etc/nginx/ssl/{{ server_name }}.crt;
        ssl_certificate_key /etc/nginx/ssl/{{ server_name }}.key;
        ssl_client_certificate /etc/nginx/ssl/clients-ca.pem;
        ssl_verify_client on;
        access_log /var/log/nginx/tls_access.log tls_client;
        location / {
            proxy_pass http://127.0.0.1:8022;
        }
    }
}
