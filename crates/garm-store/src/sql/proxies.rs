//! Named proxies: names are unique case-insensitively, the password is sealed, and a proxy a
//! pool uses cannot be deleted.

use super::*;

const PROXY_COLS: &str =
    "id, name, description, http_proxy, https_proxy, no_proxy, username, password, created_at, updated_at";

impl Store {
    fn proxy_from(&self, r: &AnyRow) -> Result<ProxyRecord> {
        let sealed: String = r.try_get("password")?;
        Ok(ProxyRecord {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            http_proxy: r.try_get("http_proxy")?,
            https_proxy: r.try_get("https_proxy")?,
            no_proxy: r.try_get("no_proxy")?,
            username: r.try_get("username")?,
            password: if sealed.is_empty() {
                None
            } else {
                Some(self.open(&sealed)?)
            },
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        })
    }

    pub async fn proxies(&self) -> Result<Vec<ProxyRecord>> {
        let rows = sqlx::query(&format!("SELECT {PROXY_COLS} FROM proxies ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| self.proxy_from(r)).collect()
    }

    pub async fn proxy(&self, id: i64) -> Result<ProxyRecord> {
        let row = sqlx::query(&format!("SELECT {PROXY_COLS} FROM proxies WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("proxy {id}")))?;
        self.proxy_from(&row)
    }

    pub(super) fn sealed_password(&self, p: &ProxyRecord) -> String {
        p.password
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| self.seal(s.expose()))
            .unwrap_or_default()
    }

    pub async fn create_proxy(&self, p: &ProxyRecord) -> Result<ProxyRecord> {
        let at = ts(&now());
        let row = sqlx::query("INSERT INTO proxies (name, name_key, description, http_proxy, https_proxy, no_proxy, username, password, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9) RETURNING id")
            .bind(&p.name)
            .bind(p.name.to_lowercase())
            .bind(&p.description)
            .bind(&p.http_proxy)
            .bind(&p.https_proxy)
            .bind(&p.no_proxy)
            .bind(&p.username)
            .bind(self.sealed_password(p))
            .bind(&at)
            .fetch_one(&self.pool)
            .await
            .map_err(|err| conflict_as(err, format!("proxy {}", p.name)))?;
        self.proxy(row.try_get("id")?).await
    }

    /// Writes every field of `p` (the password as given: `None` clears it).
    pub async fn update_proxy(&self, p: &ProxyRecord) -> Result<ProxyRecord> {
        let done = sqlx::query("UPDATE proxies SET name=$1, name_key=$2, description=$3, http_proxy=$4, https_proxy=$5, no_proxy=$6, username=$7, password=$8, updated_at=$9 WHERE id=$10")
            .bind(&p.name)
            .bind(p.name.to_lowercase())
            .bind(&p.description)
            .bind(&p.http_proxy)
            .bind(&p.https_proxy)
            .bind(&p.no_proxy)
            .bind(&p.username)
            .bind(self.sealed_password(p))
            .bind(ts(&now()))
            .bind(p.id)
            .execute(&self.pool)
            .await
            .map_err(|err| conflict_as(err, format!("proxy {}", p.name)))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("proxy {}", p.id)));
        }
        self.proxy(p.id).await
    }

    /// Deletes a proxy no pool uses.
    pub async fn delete_proxy(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        super::creates::refuse_if_used(&mut tx, "proxy_id", "proxy", id).await?;
        sqlx::query("DELETE FROM proxies WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
