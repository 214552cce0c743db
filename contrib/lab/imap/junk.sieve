# Lab Sieve rule (sieve_before): the MX marks mail from junk.lab.test with X-Spam-Flag: YES.
require ["fileinto"];
if header :is "X-Spam-Flag" "YES" {
    fileinto "Junk";
    stop;
}
