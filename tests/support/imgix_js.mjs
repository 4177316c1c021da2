// Builds URLs with the real @imgix/js-core at its defaults (ixlib on), signed, for the tests.
// argv[2]: JSON {"domain", "token", "single": [[path, params]...], "fluid": [[path, params, options]...],
//                "dpr": [[path, params]...]}. Prints JSON {"single": [url...], "srcsets": [[url, descriptor]...]}.
import ImgixClient from '@imgix/js-core';

const spec = JSON.parse(process.argv[2]);
const client = new ImgixClient({ domain: spec.domain, secureURLToken: spec.token, useHTTPS: false });
const entries = (srcset) => srcset.split(',\n').map((entry) => entry.trim().split(' '));
console.log(JSON.stringify({
  single: spec.single.map(([path, params]) => client.buildURL(path, params)),
  srcsets: [
    ...spec.fluid.flatMap(([path, params, options]) => entries(client.buildSrcSet(path, params, options))),
    ...spec.dpr.flatMap(([path, params]) => entries(client.buildSrcSet(path, params))),
  ],
}));
